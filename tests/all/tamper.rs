//! Tampering with stored ciphertexts or keys makes decryption fail with a clear error,
//! and never yields a wrong value: on both backends.

use crate::common;
use std::sync::Arc;

use common::{Harness, Kind, run, team, user};
use hush::error::ErrorKind;
use hush::model::SecretId;
use hush::secrets::{Keyring, SecretStore};
use hush::store::{Table, Txn};

async fn two_secrets(h: &Harness) -> (SecretId, SecretId) {
    let a = h
        .secrets
        .create(&h.org, &user("mia"), team("alpha", "alpha-value-AAAA"))
        .await
        .unwrap()
        .id;
    let b = h
        .secrets
        .create(&h.org, &user("mia"), team("beta", "beta-value-BBBB"))
        .await
        .unwrap()
        .id;
    (a, b)
}

async fn ciphertext(h: &Harness, id: &SecretId) -> Vec<u8> {
    h.backend
        .read(&h.org, &[(Table::Ciphertexts, id.as_str())])
        .await
        .unwrap()
        .remove(0)
        .unwrap()
}

async fn overwrite(h: &Harness, table: Table, field: &str, bytes: Vec<u8>) {
    h.backend
        .commit(&h.org, Txn::new().put(table, field, bytes))
        .await
        .unwrap();
}

fn assert_crypto_failure(result: hush::Result<String>, forbidden: &[&str]) {
    let err = result.expect_err("tampered data must not decrypt");
    assert_eq!(err.kind(), ErrorKind::Crypto, "{err}");
    for v in forbidden {
        assert!(!err.message().contains(v), "{err}");
    }
}

async fn a_ciphertext_copied_onto_another_secret_fails_to_decrypt(kind: Kind) {
    let h = Harness::new(kind).await;
    let (a, b) = two_secrets(&h).await;
    overwrite(&h, Table::Ciphertexts, b.as_str(), ciphertext(&h, &a).await).await;
    assert_crypto_failure(h.use_as("mia", &b).await, &["alpha-value", "beta-value"]);
    assert_eq!(h.use_as("mia", &a).await.unwrap(), "alpha-value-AAAA");
}

async fn a_flipped_byte_anywhere_fails_to_decrypt(kind: Kind) {
    let h = Harness::new(kind).await;
    let (a, _) = two_secrets(&h).await;
    let original = ciphertext(&h, &a).await;
    for position in [0, 7, 16, 20, original.len() / 2, original.len() - 1] {
        let mut bytes = original.clone();
        bytes[position] ^= 0x01;
        overwrite(&h, Table::Ciphertexts, a.as_str(), bytes).await;
        assert_crypto_failure(h.use_as("mia", &a).await, &["alpha-value"]);
    }
    overwrite(&h, Table::Ciphertexts, a.as_str(), original[..10].to_vec()).await;
    assert_crypto_failure(h.use_as("mia", &a).await, &["alpha-value"]);
    overwrite(&h, Table::Ciphertexts, a.as_str(), original).await;
    assert_eq!(h.use_as("mia", &a).await.unwrap(), "alpha-value-AAAA");
}

async fn a_version_bumped_without_a_new_ciphertext_fails_to_decrypt(kind: Kind) {
    let h = Harness::new(kind).await;
    let (a, _) = two_secrets(&h).await;
    let meta = h
        .backend
        .read(&h.org, &[(Table::Secrets, a.as_str())])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&meta).unwrap();
    json["version"] = 2.into();
    overwrite(
        &h,
        Table::Secrets,
        a.as_str(),
        serde_json::to_vec(&json).unwrap(),
    )
    .await;
    assert_crypto_failure(h.use_as("mia", &a).await, &["alpha-value"]);
}

async fn a_wrong_master_key_fails_to_decrypt_with_a_clear_error(kind: Kind) {
    let h = Harness::new(kind).await;
    let (a, _) = two_secrets(&h).await;
    let wrong = tempfile::tempdir().unwrap();
    let store = SecretStore::new(
        Arc::clone(&h.backend),
        Keyring::generate_file(&wrong.path().join("k")).unwrap(),
    );
    let err = store
        .resolve(&h.org, &user("mia"), &[a], &run("r"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Crypto);
    assert!(err.message().contains("wrong master key"), "{err}");
}

async fn a_data_key_copied_from_another_org_fails_to_unwrap(kind: Kind) {
    let h = Harness::new(kind).await;
    let (a, _) = two_secrets(&h).await;
    let other = Harness::new(kind).await;
    two_secrets(&other).await;
    let other_dek = other
        .backend
        .read(&other.org, &[(Table::Org, "dek")])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    overwrite(&h, Table::Org, "dek", other_dek).await;
    let fresh = h.reopen();
    let err = fresh
        .resolve(&h.org, &user("mia"), &[a], &run("r"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Crypto, "{err}");
}

macro_rules! both {
    ($($name:ident),*) => {
        mod redis { $(#[tokio::test] async fn $name() { super::$name(super::Kind::Redis).await })* }
        mod embedded { $(#[tokio::test] async fn $name() { super::$name(super::Kind::Embedded).await })* }
    };
}

both!(
    a_ciphertext_copied_onto_another_secret_fails_to_decrypt,
    a_flipped_byte_anywhere_fails_to_decrypt,
    a_version_bumped_without_a_new_ciphertext_fails_to_decrypt,
    a_wrong_master_key_fails_to_decrypt_with_a_clear_error,
    a_data_key_copied_from_another_org_fails_to_unwrap
);
