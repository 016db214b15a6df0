//! Opens hush from its configuration: the store backend, the master keys, and the
//! directory, secret and audit services every entry point (CLI, API, worker) shares.

use std::sync::Arc;

use crate::actions::code::CodeRuntime;
use crate::actions::http::{HttpSender, NetworkPolicy};
use crate::audit::Audit;
use crate::config::{Config, MasterKeySetting};
use crate::directory::Directory;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::secrets::{Keyring, SecretStore};
use crate::store::{Backend, EmbeddedBackend, RedisBackend};

/// The shared, long-lived state of a hush process.
pub struct Hush {
    /// The storage backend.
    pub backend: Arc<dyn Backend>,
    /// Orgs, users and groups.
    pub directory: Directory,
    /// Secret keys.
    pub secrets: Arc<SecretStore>,
    /// The audit trail.
    pub audit: Audit,
    /// Things the user should be told once (e.g. that a key file was generated).
    pub notices: Vec<String>,
    /// Where precompiled Run Code components are cached.
    pub component_cache: std::path::PathBuf,
}

impl Hush {
    /// Opens the store and keys named by `config`.
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the store cannot be
    /// reached; [`Invalid`](crate::error::ErrorKind::Invalid) for bad key settings, or for
    /// Redis without an explicit master key.
    pub async fn open(config: &Config) -> Result<Self> {
        let mut notices = Vec::new();
        let backend: Arc<dyn Backend> = match &config.redis_url {
            Some(url) => Arc::new(RedisBackend::connect(url).await?),
            None => Arc::new(EmbeddedBackend::open(&config.data_dir)?),
        };
        let keyring = match &config.master_key {
            MasterKeySetting::Environment(text) => Keyring::from_env_value(text)?,
            MasterKeySetting::File(path) => Keyring::load_file(path)?,
            MasterKeySetting::Default if config.redis_url.is_some() => {
                return Err(Error::invalid(
                    "master key",
                    "with HUSH_REDIS_URL set, HUSH_MASTER_KEY or HUSH_MASTER_KEY_FILE must be set too, \
                     so every hush process shares one key (a key is 64 random bytes in base64: \
                     `head -c 64 /dev/urandom | base64 -w0`)",
                ));
            }
            MasterKeySetting::Default => {
                let path = config.default_key_file();
                if path.exists() {
                    Keyring::load_file(&path)?
                } else {
                    let ring = Keyring::generate_file(&path)?;
                    notices.push(format!(
                        "generated a new master key at {} (mode 0600); back it up: without it the secrets in {} cannot be decrypted",
                        path.display(),
                        backend.describe()
                    ));
                    ring
                }
            }
        };
        Ok(Hush {
            directory: Directory::new(Arc::clone(&backend)),
            secrets: Arc::new(SecretStore::new(Arc::clone(&backend), keyring)),
            audit: Audit::new(Arc::clone(&backend)),
            backend,
            notices,
            component_cache: config.data_dir.join("components"),
        })
    }

    /// An executor for both action kinds: Send API Request through a client enforcing
    /// `policy`, and Run Code on a runtime storing components in this store and caching
    /// them precompiled under [`Hush::component_cache`].
    ///
    /// # Errors
    /// [`Internal`](crate::error::ErrorKind::Internal) when the HTTP client or the wasm
    /// engine cannot be set up.
    pub fn executor(&self, policy: NetworkPolicy) -> Result<Executor> {
        let http = HttpSender::new(policy)?;
        let code = self.code_runtime(http.clone())?;
        Ok(Executor::new(Arc::clone(&self.secrets), http).with_code(code))
    }

    /// The Run Code runtime over this store, calling out through `http`.
    ///
    /// # Errors
    /// [`Internal`](crate::error::ErrorKind::Internal) when the wasm engine cannot be set up.
    pub fn code_runtime(&self, http: HttpSender) -> Result<Arc<CodeRuntime>> {
        CodeRuntime::new(
            Arc::clone(&self.backend),
            http,
            Some(self.component_cache.clone()),
        )
        .map(Arc::new)
    }
}
