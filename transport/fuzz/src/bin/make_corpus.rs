//! Writes the seed corpus of both fuzz targets from real encodings of flotilla's messages, plus
//! truncations and a few corruptions of them. Run from anywhere with
//! `cargo run --bin make_corpus` in transport/fuzz; it replaces `corpus/frame` and
//! `corpus/message`.

use flotilla_kernel::api::{
    ApiError, DeleteOptions, ErrorCode, EventType, Outcome, RawObject, Request, Response,
    WatchEvent,
};
use flotilla_kernel::object::Kind;
use flotilla_transport::protocol::{CallRequest, Hello};
use flotilla_transport::{MAX_FRAME_BYTES, encode, encode_frame};
use std::path::Path;
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let messages = messages();
    write_all(&root.join("message"), &message_seeds(&messages))?;
    write_all(&root.join("frame"), &frame_seeds())?;
    Ok(())
}

/// Encodings of every request and response variant and of the transport's own messages.
fn messages() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for request in requests() {
        out.push(encode(&request).expect("encodes"));
        let call = CallRequest::new(request, Some(Duration::from_secs(30)));
        out.push(encode(&call).expect("encodes"));
    }
    for response in responses() {
        out.push(encode(&response).expect("encodes"));
    }
    out.push(encode(&Hello { version: 1 }).expect("encodes"));
    out
}

fn message_seeds(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut seeds = messages.to_vec();
    for msg in messages.iter().step_by(3) {
        seeds.push(msg[..msg.len() / 2].to_vec());
        let mut flipped = msg.clone();
        if let Some(first) = flipped.first_mut() {
            *first ^= 0x80;
        }
        seeds.push(flipped);
    }
    seeds
}

fn frame_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let calls: Vec<Vec<u8>> = requests()
        .into_iter()
        .map(|request| encode_frame(&CallRequest::new(request, None)).expect("encodes"))
        .collect();
    let replies: Vec<Vec<u8>> = responses()
        .iter()
        .map(|response| encode_frame(response).expect("encodes"))
        .collect();
    for frame in calls.iter().chain(&replies) {
        seeds.push(frame.clone());
    }
    for frame in calls.iter().step_by(2).chain(replies.iter().step_by(2)) {
        seeds.push(frame[..4].to_vec());
        seeds.push(frame[..frame.len() - 1].to_vec());
    }
    seeds.push([replies[0].clone(), replies[1].clone()].concat());
    seeds.push(encode_frame(&Hello { version: 1 }).expect("encodes"));
    seeds.push(((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec());
    seeds.push([0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff].to_vec());
    seeds
}

fn requests() -> Vec<Request> {
    let pod =
        RawObject(br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1"}}"#.to_vec());
    vec![
        Request::Get {
            kind: Kind::Pod,
            namespace: "default".into(),
            name: "web-1".into(),
        },
        Request::List {
            kind: Kind::Deployment,
            namespace: None,
            selector: Some("app=web,tier!=db".into()),
        },
        Request::Create {
            object: pod.clone(),
        },
        Request::Apply {
            object: pod.clone(),
        },
        Request::Update {
            object: pod.clone(),
        },
        Request::UpdateStatus { object: pod },
        Request::Bind {
            namespace: "default".into(),
            name: "web-1".into(),
            node: "rack1-07".into(),
        },
        Request::Delete {
            kind: Kind::ReplicaSet,
            namespace: "default".into(),
            name: "web-5d8f".into(),
            options: DeleteOptions::grace(Some(0)),
        },
        Request::Watch {
            kind: Kind::Pod,
            namespace: Some("kube-system".into()),
            after_revision: 1_234_567,
            node_name: Some("rack1-07".into()),
        },
        Request::Logs {
            namespace: "default".into(),
            pod: "web-1".into(),
            container: Some("app".into()),
            follow: true,
            tail_lines: Some(100),
        },
    ]
}

fn responses() -> Vec<Response> {
    let node = RawObject(br#"{"kind":"Node","metadata":{"name":"rack1-07"}}"#.to_vec());
    vec![
        Response::Object(node.clone()),
        Response::Applied {
            object: node.clone(),
            outcome: Outcome::Configured,
        },
        Response::List {
            items: vec![node.clone(), node.clone()],
            revision: 42,
        },
        Response::Event(WatchEvent {
            event: EventType::Deleted,
            object: node,
            revision: u64::MAX,
        }),
        Response::Log(b"line one\nline two\n".to_vec()),
        Response::Error(ApiError::new(
            ErrorCode::Conflict,
            "pod web-1: stale resourceVersion",
        )),
    ]
}

fn write_all(dir: &Path, seeds: &[Vec<u8>]) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (n, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{n:03}")), seed)?;
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
    Ok(())
}
