//! Embeds a recommendations snapshot into the function when `TOPTEN_EMBED_SNAPSHOT` names one
//! at build time (`TOPTEN_EMBED_SNAPSHOT=recs.snap cargo lambda build --release`); otherwise
//! embeds nothing and the function reads its store from `TOPTEN_STORE`.

fn main() {
    println!("cargo:rerun-if-env-changed=TOPTEN_EMBED_SNAPSHOT");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.snap");
    match std::env::var("TOPTEN_EMBED_SNAPSHOT") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            std::fs::copy(&path, &out)
                .unwrap_or_else(|e| panic!("TOPTEN_EMBED_SNAPSHOT={path}: {e}"));
        }
        _ => std::fs::write(&out, b"").unwrap(),
    }
}
