//! Redis stopped partway through: operations fail with a clear error while it is down,
//! and work again once it is back, with nothing lost.

use crate::common;
use std::time::{Duration, Instant};

use common::{Harness, Kind, run, team, user, value};
use hush::error::ErrorKind;
use hush::secrets::Filter;

/// Retries `op` until it succeeds or 15 s pass (the connection reconnects by itself).
async fn eventually<T, F, Fut>(mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = hush::Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("still failing after Redis came back: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_fail_clearly_while_redis_is_down_and_recover_without_loss() {
    let mut h = Harness::isolated(Kind::Redis).await;
    let kept = h
        .secrets
        .create(&h.org, &user("mia"), team("kept", "kept-value-0001"))
        .await
        .unwrap();

    h.server.as_mut().unwrap().stop();
    let mia = user("mia");
    let errors = [
        h.secrets
            .create(&h.org, &mia, team("while down", "down-value-0001"))
            .await
            .unwrap_err(),
        h.secrets
            .list(&h.org, &mia, Filter::All, None, 10)
            .await
            .unwrap_err(),
        h.secrets
            .resolve(&h.org, &mia, std::slice::from_ref(&kept.id), &run("down"))
            .await
            .unwrap_err(),
        h.secrets
            .rename(&h.org, &mia, &kept.id, "renamed while down")
            .await
            .unwrap_err(),
        h.secrets
            .set_value(&h.org, &mia, &kept.id, &value("down-value-0002"))
            .await
            .unwrap_err(),
    ];
    for err in &errors {
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(
            err.message().contains("Redis store") && err.message().contains("unavailable"),
            "{err}"
        );
        assert!(!err.message().contains("kept-value"), "{err}");
    }

    h.server.as_mut().unwrap().restart();
    let back = run("back");
    let got = eventually(|| {
        h.secrets
            .resolve(&h.org, &mia, std::slice::from_ref(&kept.id), &back)
    })
    .await;
    assert_eq!(
        got[0].value.expose(),
        "kept-value-0001",
        "the value written before the outage is intact"
    );
    assert_eq!(
        got[0].meta.name, "kept",
        "the rename that failed changed nothing"
    );
    let page = h
        .secrets
        .list(&h.org, &mia, Filter::All, None, 10)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1, "the create that failed stored nothing");
    h.secrets
        .create(&h.org, &mia, team("after", "after-value-0001"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_create_acknowledged_before_a_crash_survives_the_restart() {
    let mut h = Harness::isolated(Kind::Redis).await;
    let secrets = h.secrets.clone();
    let org = h.org.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_writing = done.clone();
    let writer = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        let mut failures = 0;
        for i in 0..20_000 {
            if stop_writing.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            match secrets
                .create(
                    &org,
                    &user("mia"),
                    team(&format!("load-{i:04}"), &format!("load-value-{i:04}")),
                )
                .await
            {
                Ok(meta) => acknowledged.push((meta.id, i)),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        (acknowledged, failures)
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    h.server.as_mut().unwrap().stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.server.as_mut().unwrap().restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (acknowledged, failures) = writer.await.unwrap();
    assert!(failures > 0, "some creates ran while Redis was down");
    assert!(!acknowledged.is_empty());
    let ids: Vec<_> = acknowledged.iter().map(|(id, _)| id.clone()).collect();
    let (mia, after) = (user("mia"), run("after-crash"));
    let got = eventually(|| h.secrets.resolve(&h.org, &mia, &ids, &after)).await;
    for ((_, i), r) in acknowledged.iter().zip(&got) {
        assert_eq!(r.value.expose(), format!("load-value-{i:04}"));
    }
}
