//! Cloud metadata and credential endpoints through the real entry points: a Send API
//! Request and a guest's HTTP call, under the widest network settings there are
//! (`HUSH_ALLOW_PRIVATE_NETWORKS=1`, `HUSH_ALLOWED_NETWORKS` covering everything). These
//! addresses cannot be bound here, so each test asserts the refusal itself: it is
//! decided from the URL or the name, before any connection is tried.

use crate::common;
use common::{Harness, Kind, run, user};
use hush::actions::code::CodeAction;
use hush::actions::http::{HttpAction, HttpSender, NetworkPolicy};
use hush::error::ErrorKind;
use hush::executor::{RunRequest, RunStatus};
use hush::guests;
use hush::redact::Redactor;
use serde_json::json;

/// Every known metadata or credential endpoint, in the spellings a URL can carry.
const URLS: &[&str] = &[
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://169.254.170.2/v2/credentials/",
    "http://169.254.170.23/v1/credentials",
    "http://[fd00:ec2::23]/v1/credentials",
    "http://168.63.129.16/machine?comp=goalstate",
    "http://168.63.129.16:32526/vmSettings",
    "http://100.100.100.200/latest/meta-data/ram/security-credentials/",
    "http://192.0.0.192/latest/",
    "http://169.254.0.23/latest/meta-data/",
    "http://[fd20:ce::254]/computeMetadata/v1/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata.tencentyun.com/latest/meta-data/",
    "http://2852039170/v2/credentials/",
    "http://[::ffff:169.254.170.2]/v2/credentials/",
    "http://[64:ff9b::a9fe:aa17]/v1/credentials",
    "http://[2002:a83f:8110::1]/machine",
    "http://[2001:0:4136:e378:8000:63bf:5601:55fd]/v2/credentials/",
];

/// The widest policies: private networks opened, and every network listed as well.
fn wide_open() -> Vec<(&'static str, NetworkPolicy)> {
    let private =
        NetworkPolicy::from_lookup(|n| (n == "HUSH_ALLOW_PRIVATE_NETWORKS").then(|| "1".into()))
            .unwrap();
    let listed = NetworkPolicy::from_lookup(|n| {
        (n == "HUSH_ALLOWED_NETWORKS").then(|| "0.0.0.0/0,::/0".into())
    })
    .unwrap();
    vec![
        ("HUSH_ALLOW_PRIVATE_NETWORKS=1", private),
        ("HUSH_ALLOWED_NETWORKS=0.0.0.0/0,::/0", listed),
    ]
}

#[tokio::test]
async fn send_api_request_never_reaches_a_cloud_credential_endpoint_under_any_setting() {
    for (setting, policy) in wide_open() {
        let sender = HttpSender::new(policy).unwrap();
        for url in URLS {
            let spec = HttpAction::from_json(
                &json!({"kind": "send_api_request", "method": "GET", "url": url, "timeout_ms": 2000})
                    .to_string(),
            )
            .unwrap();
            let err = sender
                .execute(&spec, &json!({}), &[], &Redactor::empty())
                .await
                .expect_err(&format!("{url} was sent under {setting}"));
            assert_eq!(
                err.kind(),
                ErrorKind::Denied,
                "{url} under {setting}: {err:?}"
            );
            assert!(
                err.message().contains("refused to connect")
                    && err.message().contains("no setting allows it"),
                "{url} under {setting}: {err:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_guest_never_reaches_a_cloud_credential_endpoint_under_any_setting() {
    let h = Harness::new(Kind::Redis).await;
    for (setting, policy) in wide_open() {
        let (_, executor) = h.code_executor(policy);
        for url in [
            "http://169.254.170.2/v2/credentials/",
            "http://169.254.170.23/v1/credentials",
            "http://168.63.129.16/machine?comp=goalstate",
            "http://metadata.google.internal/computeMetadata/v1/",
        ] {
            let host = url::Url::parse(url).unwrap().host_str().unwrap().to_owned();
            let action = CodeAction::from_json(
                &json!({"kind": "run_code", "name": "t", "component": guests::HOSTILE,
                        "allowed_hosts": [host]})
                .to_string(),
            )
            .unwrap();
            let record = executor
                .run(RunRequest {
                    run_id: run(&common::unique("run")),
                    org: h.org.clone(),
                    actor: user("mia"),
                    action: action.into(),
                    inputs: json!({"attack": "http_to", "url": url}),
                })
                .await;
            assert_eq!(record.status, RunStatus::Failed, "{url} under {setting}");
            let message = record.error.unwrap().message;
            assert!(
                message.contains("not_allowed") && message.contains("no setting allows it"),
                "{url} under {setting}: {message}"
            );
        }
    }
}
