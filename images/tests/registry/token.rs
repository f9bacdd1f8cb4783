//! A bearer token service for the registry, as Docker Hub's `auth.docker.io` is one: the
//! registry answers `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, the client asks
//! the realm for a token with its basic credentials, and the registry checks the token's
//! signature (ES256, with its certificate in the `x5c` header, which the registry's
//! `rootcertbundle` holds), issuer, audience, lifetime and access list.
//!
//! One thread serves requests one at a time until the service is dropped; a request without
//! the right credentials gets 401, so anonymous pulls are refused.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::json;

const SERVICE: &str = "flotilla-test-registry";
const ISSUER: &str = "flotilla-test-token-service";

/// What the registry's config needs to trust the service.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    realm: String,
    rootcertbundle: PathBuf,
}

impl TokenAuth {
    pub fn registry_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    \
             rootcertbundle: {}\n",
            self.realm,
            self.rootcertbundle.display()
        )
    }
}

/// The running service; stopped when dropped.
#[derive(Debug)]
pub struct TokenService {
    pub auth: TokenAuth,
    address: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Signer {
    key: EcdsaKeyPair,
    certificate: Vec<u8>,
    credentials: String,
}

impl TokenService {
    /// Starts a service that gives tokens to `username`:`password`; its certificate goes to
    /// `dir`.
    pub fn start(dir: &Path, username: &str, password: &str) -> TokenService {
        let key = rcgen::KeyPair::generate().expect("a signing key");
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).expect("certificate parameters");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ISSUER);
        let certificate = params.self_signed(&key).expect("the signing certificate");
        let rootcertbundle = dir.join("token-signer.pem");
        fs::write(&rootcertbundle, certificate.pem()).expect("writing the signing certificate");
        let signer = Signer {
            key: EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &key.serialize_der(),
                &SystemRandom::new(),
            )
            .expect("ring reads rcgen's key"),
            certificate: certificate.der().to_vec(),
            credentials: format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{password}"))
            ),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the token service");
        let address = listener
            .local_addr()
            .expect("the token service's address")
            .to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    // A client that hangs up early is its own problem.
                    let _ = signer.answer(stream);
                }
            }
        });
        TokenService {
            auth: TokenAuth {
                realm: format!("http://{address}/token"),
                rootcertbundle,
            },
            address,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the thread from accept so that it sees the flag.
        let _ = TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Signer {
    fn answer(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let mut authorization = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("authorization")
            {
                authorization = Some(value.trim().to_string());
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or("");
        let (status, body) = if authorization.as_deref() == Some(&self.credentials) {
            let token = self.token(&scopes(target));
            (
                "200 OK",
                json!({"token": token, "access_token": token}).to_string(),
            )
        } else {
            let error = json!({"errors": [{"code": "UNAUTHORIZED",
                "message": "invalid username or password"}]});
            ("401 Unauthorized", error.to_string())
        };
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )?;
        stream.flush()
    }

    /// A token granting `scopes` (`repository:NAME:ACTIONS`) for five minutes.
    fn token(&self, scopes: &[String]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_secs();
        let access: Vec<_> = scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(json!({"type": kind, "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect();
        let header = json!({"typ": "JWT", "alg": "ES256",
            "x5c": [STANDARD.encode(&self.certificate)]});
        let claims = json!({"iss": ISSUER, "sub": "alice", "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}"),
            "access": access});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signed.as_bytes())
            .expect("signing a token");
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// The `scope` parameters of a request target, decoded.
fn scopes(target: &str) -> Vec<String> {
    let query = target.split_once('?').map_or("", |(_, query)| query);
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("scope="))
        .map(percent_decode)
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
