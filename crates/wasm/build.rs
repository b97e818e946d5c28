//! Embeds the recommendations snapshot named by `TOPTEN_SNAPSHOT` (a file written by
//! `topten export-snapshot`). Without one the component embeds nothing and answers 503
//! `no_active_version`, as the native handler does with nothing published.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(topten_start)");
    // The answer-id keys, as TOPTEN_ID_KEY gives them (see `src/main.rs`): embedded like the
    // snapshot, since the proxy world has no environment to read them from at run time.
    println!("cargo:rerun-if-env-changed=TOPTEN_ID_KEY");
    let key = std::env::var("TOPTEN_ID_KEY").unwrap_or_default();
    if !key.is_empty() {
        if let Err(e) = topten_edge_key_check(&key) {
            panic!("TOPTEN_ID_KEY: {e}");
        }
    }
    let key_out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("id.key");
    std::fs::write(&key_out, key.as_bytes()).unwrap();
    println!("cargo:rerun-if-env-changed=TOPTEN_SNAPSHOT");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("recs.snap");
    match std::env::var("TOPTEN_SNAPSHOT") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            std::fs::copy(&path, &out).unwrap_or_else(|e| panic!("TOPTEN_SNAPSHOT={path}: {e}"));
        }
        _ => std::fs::write(&out, b"").unwrap(),
    }
}

/// The key rule of `topten_edge::answer_id::IdKeys::from_setting`, checked at build time so a
/// bad key fails the build rather than every answer: comma-separated keys, each at least 16
/// bytes.
fn topten_edge_key_check(setting: &str) -> Result<(), String> {
    let keys: Vec<&str> = setting.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
    if keys.is_empty() {
        return Err("no key given".into());
    }
    match keys.iter().position(|k| k.len() < 16) {
        Some(i) => Err(format!("key {} is shorter than 16 bytes", i + 1)),
        None => Ok(()),
    }
}
