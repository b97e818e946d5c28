//! Authentication to Azure services, shared by the Cosmos DB store and Blob Storage
//! (`topten_azure`) and the Redis store (`topten_redis`), so that neither store crate needs
//! the other for it.
//!
//! In Azure, topten authenticates with Microsoft Entra ID through `azure_identity`: the
//! Function App's managed identity (system-assigned, or user-assigned when `AZURE_CLIENT_ID`
//! is set). On a developer machine the same code uses the developer tools chain (`az login`,
//! `azd auth login`). Keys and SAS tokens are for local emulators only (see `topten_azure`'s
//! `cosmos` and `blob` modules), so that no long-lived secret is needed in production.
//!
//! `TOPTEN_AZURE_CREDENTIAL` picks the credential: `managed`, `developer`, or `auto` (default:
//! managed identity when the host advertises one through `IDENTITY_ENDPOINT` or
//! `MSI_ENDPOINT`, as Functions and App Service do; developer tools otherwise).
#![deny(missing_docs)]

use std::sync::{Arc, OnceLock};

use azure_core::credentials::TokenCredential;
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};

/// Which Entra ID credential to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// Managed identity (in Azure).
    Managed,
    /// Developer tools (Azure CLI, Azure Developer CLI).
    Developer,
}

impl CredentialKind {
    /// The kind from `TOPTEN_AZURE_CREDENTIAL` and the host environment.
    pub fn from_env() -> Result<Self, String> {
        let setting = std::env::var("TOPTEN_AZURE_CREDENTIAL").unwrap_or_else(|_| "auto".into());
        match setting.to_ascii_lowercase().as_str() {
            "managed" | "managed-identity" | "managedidentity" => Ok(CredentialKind::Managed),
            "developer" | "cli" | "az" => Ok(CredentialKind::Developer),
            "auto" | "" => {
                let in_azure = ["IDENTITY_ENDPOINT", "MSI_ENDPOINT"]
                    .iter()
                    .any(|v| std::env::var_os(v).is_some());
                Ok(if in_azure {
                    CredentialKind::Managed
                } else {
                    CredentialKind::Developer
                })
            }
            other => Err(format!(
                "TOPTEN_AZURE_CREDENTIAL={other:?}: expected auto, managed or developer"
            )),
        }
    }
}

/// Makes ring rustls's crypto back end for this process, once, before any TLS client is built.
///
/// The Azure SDK builds its HTTP clients with reqwest's rustls "without a provider" (the
/// default would compile aws-lc-rs, minutes of C; see the workspace's Cargo.toml), and reqwest
/// panics if no provider is installed when a client is built. Every constructor of an SDK
/// client, the credential and the Redis TLS connection call this first; a provider someone
/// installed earlier stays.
pub fn install_tls_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The Entra ID credential for this process (`AZURE_CLIENT_ID` selects a user-assigned identity).
///
/// One instance per process: a credential caches its tokens, so sharing it means one token
/// request per scope and lifetime rather than one per blob client.
pub fn credential() -> Result<Arc<dyn TokenCredential>, String> {
    static CREDENTIAL: OnceLock<Arc<dyn TokenCredential>> = OnceLock::new();
    if let Some(c) = CREDENTIAL.get() {
        return Ok(c.clone());
    }
    install_tls_provider();
    let c = new_credential()?;
    Ok(CREDENTIAL.get_or_init(|| c).clone())
}

fn new_credential() -> Result<Arc<dyn TokenCredential>, String> {
    match CredentialKind::from_env()? {
        CredentialKind::Managed => {
            let user_assigned_id = std::env::var("AZURE_CLIENT_ID")
                .ok()
                .filter(|s| !s.is_empty())
                .map(UserAssignedId::ClientId);
            let opts = ManagedIdentityCredentialOptions {
                user_assigned_id,
                ..Default::default()
            };
            let c: Arc<dyn TokenCredential> = ManagedIdentityCredential::new(Some(opts))
                .map_err(|e| format!("managed identity: {e}"))?;
            Ok(c)
        }
        CredentialKind::Developer => {
            let c: Arc<dyn TokenCredential> = DeveloperToolsCredential::new(None)
                .map_err(|e| format!("developer credential: {e}"))?;
            Ok(c)
        }
    }
}

/// Whether `host` is this machine (emulators are only trusted there).
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
