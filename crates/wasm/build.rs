//! Embeds the recommendations snapshot named by `TOPTEN_SNAPSHOT` (a file written by
//! `topten export-snapshot`). Without one the component embeds nothing and answers 503
//! `no_active_version`, as the native handler does with nothing published.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(topten_start)");
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
