//! Envelope encryption of secret values: master keys wrap one data key per org, and the
//! data key encrypts values with AES-256-SIV, a random nonce, and associated data that
//! binds each ciphertext to its org, secret id and version.
//!
//! Master keys come from `HUSH_MASTER_KEY` (base64) or a key file, never from the store.
//! Plaintexts and keys live in zeroizing buffers; nothing here logs, formats or returns a
//! plaintext except [`DataKey::decrypt`], whose result is a [`SecretValue`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_siv::aead::{AeadInPlace, KeyInit};
use aes_siv::{Aes256SivAead, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::SecretValue;
use crate::error::{Error, Result};
use crate::model::{OrgId, SecretId};

/// Length of every key (master and data): AES-256-SIV takes two 256-bit keys.
pub const KEY_LEN: usize = 64;
const NONCE_LEN: usize = 16;

type Key = Zeroizing<[u8; KEY_LEN]>;

fn random_key() -> Key {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(key.as_mut()).expect("the operating system's random source failed");
    key
}

fn cipher(key: &[u8; KEY_LEN]) -> Aes256SivAead {
    Aes256SivAead::new_from_slice(key).expect("key length is fixed")
}

/// Encrypts `buf` in place with a fresh random nonce; returns `nonce || ciphertext`.
fn seal(cipher: &Aes256SivAead, aad: &[u8], mut buf: Zeroizing<Vec<u8>>) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).expect("the operating system's random source failed");
    cipher
        .encrypt_in_place(Nonce::from_slice(&nonce), aad, &mut *buf)
        .expect("AES-SIV encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    out
}

/// Reverses [`seal`]; `None` when the blob was tampered with, misplaced or the key is wrong.
fn open(cipher: &Aes256SivAead, aad: &[u8], blob: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if blob.len() < NONCE_LEN + 16 {
        return None;
    }
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    cipher
        .decrypt_in_place(Nonce::from_slice(nonce), aad, &mut *buf)
        .ok()?;
    Some(buf)
}

/// Where the master keys came from, which decides whether rotation can add a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `HUSH_MASTER_KEY`.
    Environment,
    /// A key file (`HUSH_MASTER_KEY_FILE` or the embedded default).
    File(PathBuf),
}

/// The master keys, by version; the highest version wraps new data keys.
pub struct Keyring {
    keys: BTreeMap<u32, Key>,
    source: KeySource,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<KeyFileEntry>,
}

#[derive(Serialize, Deserialize)]
struct KeyFileEntry {
    version: u32,
    key: String,
}

const KEY_HINT: &str =
    "a master key is 64 random bytes in base64, e.g. `head -c 64 /dev/urandom | base64 -w0`";

fn decode_key(field: &str, text: &str) -> Result<Key> {
    let bytes = Zeroizing::new(
        BASE64
            .decode(text.trim())
            .map_err(|_| Error::invalid(field, format!("not valid base64; {KEY_HINT}")))?,
    );
    let array: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
        Error::invalid(
            field,
            format!(
                "decodes to {} bytes, not {KEY_LEN}; {KEY_HINT}",
                bytes.len()
            ),
        )
    })?;
    Ok(Zeroizing::new(array))
}

impl Keyring {
    /// Parses `HUSH_MASTER_KEY`: one base64 key (version 1), or `VERSION:BASE64,…` for
    /// several versions during a rotation.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming `HUSH_MASTER_KEY`.
    pub fn from_env_value(text: &str) -> Result<Self> {
        const FIELD: &str = "HUSH_MASTER_KEY";
        let mut keys = BTreeMap::new();
        if !text.contains(':') {
            keys.insert(1, decode_key(FIELD, text)?);
        } else {
            for part in text.split(',') {
                let (version, key) = part.split_once(':').ok_or_else(|| {
                    Error::invalid(FIELD, "expected VERSION:BASE64 entries separated by commas")
                })?;
                let version: u32 = version.trim().parse().map_err(|_| {
                    Error::invalid(
                        FIELD,
                        format!("{:?} is not a key version number", version.trim()),
                    )
                })?;
                if keys.insert(version, decode_key(FIELD, key)?).is_some() {
                    return Err(Error::invalid(
                        FIELD,
                        format!("version {version} appears twice"),
                    ));
                }
            }
        }
        Ok(Keyring {
            keys,
            source: KeySource::Environment,
        })
    }

    /// Reads a key file.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) when it is missing or malformed.
    pub fn load_file(path: &Path) -> Result<Self> {
        let field = format!("master key file {}", path.display());
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| Error::invalid(&field, e.to_string()))?,
        );
        let file: KeyFile = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(&field, format!("not a hush key file: {e}")))?;
        let mut keys = BTreeMap::new();
        for entry in file.keys {
            let key = decode_key(&field, &entry.key)?;
            if keys.insert(entry.version, key).is_some() {
                return Err(Error::invalid(
                    &field,
                    format!("version {} appears twice", entry.version),
                ));
            }
        }
        if keys.is_empty() {
            return Err(Error::invalid(&field, "it holds no key"));
        }
        Ok(Keyring {
            keys,
            source: KeySource::File(path.to_owned()),
        })
    }

    /// Creates a key file holding one fresh key, readable by the owner only (0600).
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the file cannot be written;
    /// [`Conflict`](crate::error::ErrorKind::Conflict) when it already exists.
    pub fn generate_file(path: &Path) -> Result<Self> {
        let mut keys = BTreeMap::new();
        keys.insert(1, random_key());
        let ring = Keyring {
            keys,
            source: KeySource::File(path.to_owned()),
        };
        ring.write_file(path, true)?;
        Ok(ring)
    }

    /// Writes every key to `path` atomically (a 0600 temp file renamed over it).
    fn write_file(&self, path: &Path, create_new: bool) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = KeyFile {
            keys: self
                .keys
                .iter()
                .map(|(version, key)| KeyFileEntry {
                    version: *version,
                    key: BASE64.encode(key.as_ref()),
                })
                .collect(),
        };
        let text = Zeroizing::new(serde_json::to_string_pretty(&file).expect("serializable"));
        for mut entry in file.keys {
            entry.key.zeroize();
        }
        let fail = |e: std::io::Error| {
            Error::unavailable(format!(
                "cannot write master key file {}: {e}",
                path.display()
            ))
        };
        if create_new && path.exists() {
            return Err(Error::conflict(format!(
                "master key file {} already exists",
                path.display()
            )));
        }
        let tmp = path.with_extension("tmp");
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        out.write_all(text.as_bytes()).map_err(fail)?;
        out.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)?;
        Ok(())
    }

    /// Where the keys came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The version that wraps new data keys (the highest).
    pub fn current(&self) -> u32 {
        *self
            .keys
            .keys()
            .next_back()
            .expect("a keyring is never empty")
    }

    /// Every version held.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Adds a fresh key as the new current version and saves the key file before it is
    /// used, so that an interrupted rotation never leaves a data key wrapped by a key that
    /// was not saved.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) when the keys came from the environment.
    pub fn add_version(&mut self) -> Result<u32> {
        let KeySource::File(path) = self.source.clone() else {
            return Err(Error::invalid(
                "HUSH_MASTER_KEY",
                "keys from the environment cannot be extended by hush; add the new key as \
                 `N:BASE64` to HUSH_MASTER_KEY (keeping the old ones) and run `hush keys rotate` \
                 again, or use HUSH_MASTER_KEY_FILE",
            ));
        };
        let version = self.current() + 1;
        self.keys.insert(version, random_key());
        if let Err(e) = self.write_file(&path, false) {
            self.keys.remove(&version);
            return Err(e);
        }
        Ok(version)
    }

    /// Wraps `dek` for `org` under the current master key.
    pub fn wrap(&self, org: &OrgId, dek: &DataKey) -> WrappedKey {
        let version = self.current();
        let blob = seal(
            &cipher(&self.keys[&version]),
            &dek_aad(org, version),
            Zeroizing::new(dek.key.to_vec()),
        );
        WrappedKey { version, blob }
    }

    /// Unwraps `org`'s data key.
    ///
    /// # Errors
    /// [`Crypto`](crate::error::ErrorKind::Crypto) when the master key version is missing
    /// or the wrapped key does not decrypt (a wrong master key, or tampering).
    pub fn unwrap(&self, org: &OrgId, wrapped: &WrappedKey) -> Result<DataKey> {
        let key = self.keys.get(&wrapped.version).ok_or_else(|| {
            Error::crypto(format!(
                "org {org}'s data key is wrapped by master key version {}, which is not configured (have {:?})",
                wrapped.version,
                self.versions()
            ))
        })?;
        let plain = open(&cipher(key), &dek_aad(org, wrapped.version), &wrapped.blob).ok_or_else(|| {
            Error::crypto(format!(
                "org {org}'s data key does not decrypt with master key version {}: wrong master key or tampered data",
                wrapped.version
            ))
        })?;
        let array: [u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| Error::crypto(format!("org {org}'s data key has the wrong length")))?;
        Ok(DataKey::from_key(Zeroizing::new(array)))
    }
}

fn dek_aad(org: &OrgId, version: u32) -> Vec<u8> {
    format!("hush/dek/v1\0{org}\0{version}").into_bytes()
}

fn value_aad(org: &OrgId, id: &SecretId, version: u32) -> Vec<u8> {
    format!("hush/value/v1\0{org}\0{id}\0{version}").into_bytes()
}

/// A data key wrapped by a master key version, as stored.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WrappedKey {
    /// The master key version that wraps it.
    pub version: u32,
    /// `nonce || ciphertext` of the data key.
    #[serde(with = "base64_bytes")]
    pub blob: Vec<u8>,
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// One org's data key, which encrypts its secret values. The cipher (its key schedule)
/// is built once, since an org's data key is cached for the life of the process.
pub struct DataKey {
    key: Key,
    cipher: Aes256SivAead,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> Self {
        Self::from_key(random_key())
    }

    fn from_key(key: Key) -> Self {
        DataKey {
            cipher: cipher(&key),
            key,
        }
    }

    /// Encrypts `value` as version `version` of secret `id` in `org`.
    pub fn encrypt(
        &self,
        org: &OrgId,
        id: &SecretId,
        version: u32,
        value: &SecretValue,
    ) -> Vec<u8> {
        seal(
            &self.cipher,
            &value_aad(org, id, version),
            Zeroizing::new(value.expose().as_bytes().to_vec()),
        )
    }

    /// Decrypts version `version` of secret `id` in `org`.
    ///
    /// # Errors
    /// [`Crypto`](crate::error::ErrorKind::Crypto) when the ciphertext was altered, copied
    /// from another secret or version, or encrypted under another key. Never a wrong value.
    pub fn decrypt(
        &self,
        org: &OrgId,
        id: &SecretId,
        version: u32,
        blob: &[u8],
    ) -> Result<SecretValue> {
        let plain = open(&self.cipher, &value_aad(org, id, version), blob).ok_or_else(|| {
            Error::crypto(format!(
                "secret {id} (version {version}) does not decrypt: its stored ciphertext was altered or does not belong to it"
            ))
        })?;
        SecretValue::from_utf8(plain)
            .map_err(|_| Error::crypto(format!("secret {id} decrypted to invalid UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrgId {
        OrgId::parse("acme").unwrap()
    }

    #[test]
    fn a_value_decrypts_only_under_its_own_org_id_and_version() {
        let dek = DataKey::generate();
        let id = SecretId::generate();
        let value = SecretValue::new("correct horse battery").unwrap();
        let blob = dek.encrypt(&org(), &id, 1, &value);
        assert_eq!(
            dek.decrypt(&org(), &id, 1, &blob).unwrap().expose(),
            value.expose()
        );
        assert!(dek.decrypt(&org(), &id, 2, &blob).is_err());
        assert!(
            dek.decrypt(&org(), &SecretId::generate(), 1, &blob)
                .is_err()
        );
        assert!(
            dek.decrypt(&OrgId::parse("other").unwrap(), &id, 1, &blob)
                .is_err()
        );
    }

    #[test]
    fn encrypting_the_same_value_twice_gives_different_ciphertexts() {
        let dek = DataKey::generate();
        let id = SecretId::generate();
        let value = SecretValue::new("same value twice").unwrap();
        assert_ne!(
            dek.encrypt(&org(), &id, 1, &value),
            dek.encrypt(&org(), &id, 1, &value)
        );
    }

    #[test]
    fn a_wrapped_data_key_needs_the_master_key_that_wrapped_it() {
        let ring = Keyring::from_env_value(&BASE64.encode([7u8; 64])).unwrap();
        let other = Keyring::from_env_value(&BASE64.encode([8u8; 64])).unwrap();
        let dek = DataKey::generate();
        let wrapped = ring.wrap(&org(), &dek);
        assert_eq!(
            ring.unwrap(&org(), &wrapped).unwrap().key.as_ref(),
            dek.key.as_ref()
        );
        let err = other.unwrap(&org(), &wrapped).unwrap_err();
        assert!(err.message().contains("wrong master key"), "{err}");
    }

    #[test]
    fn master_keys_of_the_wrong_size_or_encoding_are_refused_with_a_hint() {
        let short = Keyring::from_env_value(&BASE64.encode([1u8; 32])).unwrap_err();
        assert!(short.message().contains("32 bytes, not 64"), "{short}");
        assert!(Keyring::from_env_value("not base64!").is_err());
        let multi = format!(
            "1:{},2:{}",
            BASE64.encode([1u8; 64]),
            BASE64.encode([2u8; 64])
        );
        assert_eq!(Keyring::from_env_value(&multi).unwrap().current(), 2);
    }

    #[test]
    fn a_generated_key_file_is_private_and_reloads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let mut ring = Keyring::generate_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ring.add_version().unwrap(), 2);
        assert_eq!(Keyring::load_file(&path).unwrap().versions(), vec![1, 2]);
        assert!(Keyring::generate_file(&path).is_err());
    }
}
