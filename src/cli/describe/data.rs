//! `describe configmap|secret|lease`. A ConfigMap shows its values, as kubectl does; a
//! Secret shows only each key's size, so describing never prints a secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use flotilla_kernel::object::{ConfigMap, Lease, Secret};

use super::layout::Layout;
use super::meta;

pub fn config_map_view(config_map: &ConfigMap) -> String {
    let mut layout = Layout::default();
    meta::identity(&mut layout, &config_map.metadata, true);
    layout.section(0, "Data");
    for (key, value) in &config_map.data {
        layout.section(1, key);
        for line in value.lines() {
            layout.text(2, line);
        }
    }
    layout.render()
}

pub fn secret_view(secret: &Secret) -> String {
    let mut layout = Layout::default();
    meta::identity(&mut layout, &secret.metadata, true);
    layout.field(0, "Type", secret.secret_type.clone());
    layout.section(0, "Data");
    for (key, value) in &secret.data {
        let size = BASE64.decode(value).map_or_else(
            |_| "not base64".to_owned(),
            |bytes| format!("{} bytes", bytes.len()),
        );
        layout.field(1, key, size);
    }
    layout.render()
}

pub fn lease_view(lease: &Lease) -> String {
    let mut layout = Layout::default();
    meta::identity(&mut layout, &lease.metadata, true);
    let spec = &lease.spec;
    layout.field(0, "Holder", spec.holder_identity.clone());
    layout.field(
        0,
        "Duration",
        spec.lease_duration_seconds
            .map_or_else(|| "<unset>".to_owned(), |seconds| format!("{seconds}s")),
    );
    layout.field(0, "Acquired", meta::timestamp(spec.acquire_time.as_ref()));
    layout.field(0, "Renewed", meta::timestamp(spec.renew_time.as_ref()));
    layout.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_sizes_never_values() {
        let mut secret = Secret::default();
        secret.metadata.name = "db".into();
        secret.secret_type = "Opaque".into();
        secret
            .data
            .insert("password".into(), BASE64.encode("hunter2"));
        let text = secret_view(&secret);
        assert!(text.contains("password:"), "{text}");
        assert!(text.contains("7 bytes"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_config_map_shows_its_values() {
        let mut config_map = ConfigMap::default();
        config_map.metadata.name = "settings".into();
        config_map.data.insert("level".into(), "debug".into());
        let text = config_map_view(&config_map);
        assert!(text.contains("level:"), "{text}");
        assert!(text.contains("debug"), "{text}");
    }
}
