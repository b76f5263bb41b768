//! The job queue: reclaiming, retries, pauses, replays.

use crate::helpers::TestApp;
use crate::webhooks::{count, drain, fixture, post_whatsapp, providers_app};
use app::backend::store::jobs;
use app::backend::webhooks::{process_event, Processed};
use app::backend::worker::{self, Outcome};
use app::domain::{Queue, Timestamp};
use server::cli::queue::{QueueCommand, RetryTarget};
use server::cli::webhooks::WebhooksCommand;

async fn config(app: &TestApp) -> app::backend::config::Config {
    (*app.state.config).clone()
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_back_and_has_one_effect() {
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    // A worker claims the job, applies it, and dies before recording that it finished.
    let job = jobs::claim(
        &app.state.db.writer,
        &[Queue::Inbound],
        "doomed",
        Timestamp::now(),
    )
    .await
    .unwrap()
    .unwrap();
    // …an hour ago, longer than JOB_LOCK_TIMEOUT.
    sqlx::query("UPDATE jobs SET locked_at = $1")
        .bind(Timestamp::now().plus_seconds(-3600))
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let event_id: i64 = serde_json::from_str::<serde_json::Value>(&job.payload).unwrap()
        ["webhook_event_id"]
        .as_i64()
        .unwrap();
    process_event(&app.state.jobs(), event_id).await.unwrap();
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'running'").await,
        1
    );

    let outcomes = drain(&app).await;
    assert_eq!(outcomes.len(), 1, "the stale job ran again");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'done'").await,
        1
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM messages").await,
        1,
        "a single effect"
    );
    assert_eq!(count(&app, "SELECT attempts FROM jobs").await, 2);
}

#[tokio::test]
async fn a_fresh_lock_is_left_alone() {
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    jobs::claim(
        &app.state.db.writer,
        &[Queue::Inbound],
        "busy",
        Timestamp::now(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(drain(&app).await, []);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'running'").await,
        1
    );
}

#[tokio::test]
async fn permanent_failures_fail_at_once_and_retry_resets_attempts() {
    let app = providers_app().await;
    let now = Timestamp::now();
    let payloads = ["{}".to_string(), "{}".to_string()];
    jobs::enqueue_many(
        &app.state.db.writer,
        "no_such_job",
        Queue::Inbound,
        &payloads,
        5,
        now,
        now,
    )
    .await
    .unwrap();
    let outcomes = drain(&app).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Failed { .. })),
        "{outcomes:?}"
    );
    let failed = jobs::list_failed(&app.state.db.reader).await.unwrap();
    assert_eq!(failed.len(), 2);
    assert!(failed[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("unknown job kind"));

    server::cli::queue::run(
        config(&app).await,
        QueueCommand::Retry {
            target: RetryTarget::Job(failed[0].id),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND attempts = 0"
        )
        .await,
        1
    );
    server::cli::queue::run(
        config(&app).await,
        QueueCommand::Retry {
            target: RetryTarget::All,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND attempts = 0"
        )
        .await,
        2
    );
    assert!(server::cli::queue::run(
        config(&app).await,
        QueueCommand::Retry {
            target: RetryTarget::Job(999)
        }
    )
    .await
    .is_err());
}

#[tokio::test]
async fn a_paused_queue_keeps_its_work_until_resumed() {
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    server::cli::queue::run(
        config(&app).await,
        QueueCommand::Pause {
            queue: Some(Queue::Inbound),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        worker::run_one(&app.state.jobs(), &Queue::ALL, "w")
            .await
            .unwrap(),
        Outcome::Idle
    );
    assert_eq!(
        count(&app, "SELECT attempts FROM jobs").await,
        0,
        "paused work spends no attempts"
    );
    server::cli::queue::run(config(&app).await, QueueCommand::Resume { queue: None })
        .await
        .unwrap();
    assert!(matches!(
        worker::run_one(&app.state.jobs(), &Queue::ALL, "w")
            .await
            .unwrap(),
        Outcome::Done { .. }
    ));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM messages").await, 1);
}

#[tokio::test]
async fn queue_work_once_runs_at_most_one_job() {
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    post_whatsapp(&app, &fixture("whatsapp_referral.json")).await;
    server::cli::queue::run(
        config(&app).await,
        QueueCommand::Work {
            once: true,
            queue: Some(Queue::Inbound),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'done'").await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND queue = 'inbound'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn replay_reprocesses_failed_deliveries_and_changes_nothing_on_processed_ones() {
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    post_whatsapp(&app, b"{ broken").await;
    drain(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'failed'"
        )
        .await,
        1
    );

    let replay = |status: &str, dry_run: bool| WebhooksCommand::Replay {
        provider: app::domain::Provider::Whatsapp,
        since: None,
        status: status.into(),
        dry_run,
    };
    server::cli::webhooks::run(config(&app).await, replay("all", true))
        .await
        .unwrap();
    assert_eq!(
        count(&app, "SELECT SUM(attempts) FROM webhook_events").await,
        2,
        "a dry run touches nothing"
    );

    server::cli::webhooks::run(config(&app).await, replay("failed", false))
        .await
        .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT attempts FROM webhook_events WHERE status = 'processed'"
        )
        .await,
        1,
        "only the failed one"
    );
    assert_eq!(
        count(
            &app,
            "SELECT attempts FROM webhook_events WHERE status = 'failed'"
        )
        .await,
        2
    );

    server::cli::webhooks::run(config(&app).await, replay("all", false))
        .await
        .unwrap();
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM messages").await,
        1,
        "replaying a processed delivery adds nothing"
    );
    let event_id: i64 =
        sqlx::query_scalar("SELECT id FROM webhook_events WHERE status = 'processed'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    let again = process_event(&app.state.jobs(), event_id).await.unwrap();
    assert_eq!(
        again,
        Processed::Applied(app::backend::webhooks::ItemEffects {
            applied: 0,
            duplicates: 1,
            erased: 0,
            failed: Vec::new(),
        })
    );
}

#[tokio::test]
async fn retryable_failures_back_off_then_fail_after_max_attempts() {
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    // The database refuses the processing (a missing table): worth retrying, never succeeding.
    sqlx::query("DROP TABLE webhook_items")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let ctx = app.state.jobs();
    for attempt in 1..=10 {
        let before = Timestamp::now();
        let outcome = worker::run_one(&ctx, &Queue::ALL, "w").await.unwrap();
        let (attempts, run_at): (i64, Timestamp) =
            sqlx::query_as("SELECT attempts, run_at FROM jobs")
                .fetch_one(&app.state.db.reader)
                .await
                .unwrap();
        assert_eq!(attempts, attempt);
        if attempt < 10 {
            assert!(
                matches!(outcome, Outcome::Retrying { .. }),
                "attempt {attempt}: {outcome:?}"
            );
            let delay = run_at.unix() - before.unix();
            let base = 5 * 2i64.pow(attempt as u32 - 1);
            assert!(
                delay >= base * 8 / 10 - 1 && delay <= (base * 12 / 10).min(4320) + 1,
                "attempt {attempt}: retried after {delay} s"
            );
            assert_eq!(
                worker::run_one(&ctx, &Queue::ALL, "w").await.unwrap(),
                Outcome::Idle,
                "not before its time"
            );
            sqlx::query("UPDATE jobs SET run_at = $1")
                .bind(Timestamp::now())
                .execute(&app.state.db.writer)
                .await
                .unwrap();
        } else {
            assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
        }
    }
    let error: String = sqlx::query_scalar("SELECT last_error FROM jobs WHERE status = 'failed'")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert!(error.contains("webhook_items"), "{error}");
}

#[tokio::test]
async fn a_successful_replay_settles_the_deliverys_failed_job() {
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    // As if its processing had failed for good (say, a bug since fixed).
    sqlx::query("UPDATE jobs SET status = 'failed', last_error = 'bug', attempts = max_attempts")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_events SET status = 'failed', last_error = 'bug'")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'failed'").await,
        1
    );
    server::cli::webhooks::run(
        config(&app).await,
        WebhooksCommand::Replay {
            provider: app::domain::Provider::Whatsapp,
            since: None,
            status: "failed".into(),
            dry_run: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'processed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'failed'").await,
        0,
        "queue failed no longer lists it"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'"
        )
        .await,
        1
    );
}
