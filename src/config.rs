//! Configuration from the environment: where data lives and where the master key comes from.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `HUSH_REDIS_URL` | the Redis store (`redis://[user:password@]host:port/db`), or a Redis Cluster (`redis+cluster://[user:password@]host:port,host:port,…`, seed nodes) | unset: the embedded store |
//! | `HUSH_DATA_DIR` | the embedded store's directory | `$XDG_DATA_HOME/hush` or `~/.local/share/hush` |
//! | `HUSH_MASTER_KEY` | master key(s), base64 (`KEY` or `1:KEY,2:KEY`) | — |
//! | `HUSH_MASTER_KEY_FILE` | a key file written by hush | embedded: `$HUSH_DATA_DIR/master.key`, generated on first use |

use std::path::PathBuf;

use zeroize::Zeroizing;

/// Where the master key comes from.
pub enum MasterKeySetting {
    /// `HUSH_MASTER_KEY`'s text.
    Environment(Zeroizing<String>),
    /// `HUSH_MASTER_KEY_FILE`.
    File(PathBuf),
    /// Neither is set: the embedded default key file (generated when missing).
    Default,
}

/// hush's configuration.
pub struct Config {
    /// The Redis URL, when Redis is the store.
    pub redis_url: Option<String>,
    /// The embedded store's directory (also where the default key file lives).
    pub data_dir: PathBuf,
    /// Where the master key comes from.
    pub master_key: MasterKeySetting,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `var` (for tests).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let data_dir = non_empty("HUSH_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                non_empty("XDG_DATA_HOME")
                    .map(PathBuf::from)
                    .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("hush")
            });
        let master_key = if let Some(text) = non_empty("HUSH_MASTER_KEY") {
            MasterKeySetting::Environment(Zeroizing::new(text))
        } else if let Some(path) = non_empty("HUSH_MASTER_KEY_FILE") {
            MasterKeySetting::File(PathBuf::from(path))
        } else {
            MasterKeySetting::Default
        };
        Config {
            redis_url: non_empty("HUSH_REDIS_URL"),
            data_dir,
            master_key,
        }
    }

    /// The embedded default key file.
    pub fn default_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }
}
