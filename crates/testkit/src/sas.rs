//! Shared-key signatures for Azurite, Microsoft's Blob Storage emulator, whose development
//! account and key are public. Production code never signs with an account key (it uses Entra
//! ID or a SAS the operator gives), so this lives with the tests.

/// An account SAS token (query string without `?`) for the blob service, signed with an account
/// key: for emulators such as Azurite, whose well-known development key is public
/// ([`AZURITE_ACCOUNT`], [`AZURITE_KEY`]). Permissions: read, add, create, write, delete, list.
pub fn account_sas(
    account: &str,
    key_base64: &str,
    expiry_rfc3339: &str,
) -> Result<String, String> {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(key_base64)
        .map_err(|e| format!("account key is not base64: {e}"))?;
    let (sp, ss, srt, spr, sv) = ("racwdl", "b", "sco", "https,http", "2019-12-12");
    // Account SAS string-to-sign for service versions before 2020-12-06 (no encryption scope).
    let to_sign = format!("{account}\n{sp}\n{ss}\n{srt}\n\n{expiry_rfc3339}\n\n{spr}\n{sv}\n");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(to_sign.as_bytes());
    let sig = b64.encode(mac.finalize().into_bytes());
    let enc = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    Ok(format!(
        "sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={}&spr={}&sig={}",
        enc(expiry_rfc3339),
        enc(spr),
        enc(&sig)
    ))
}

/// Azurite's development account name.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key (public; never a real secret).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
