//! The Bus conformance suite, run against the in-process bus and a real RabbitMQ.
//!
//! RabbitMQ comes from `ROHE_TEST_AMQP_URL`, else `amqp://guest:guest@127.0.0.1:5672/%2f`
//! (`.ci/run` installs and starts Debian's rabbitmq-server). When no broker answers, the AMQP
//! half says so loudly; under CI (`CI` set) it fails instead of skipping.

use rohe::adapters::amqp::AmqpBus;
use rohe::adapters::embedded::MemoryBus;
use rohe::ports::bus::{Bus, Topology};
use std::sync::Arc;
use std::time::Duration;

fn amqp_url() -> String {
    std::env::var("ROHE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

async fn amqp_available(bus: &AmqpBus, t: &Topology) -> bool {
    match bus.declare(t).await {
        Ok(()) => true,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "RabbitMQ is required in CI: {e}"
            );
            eprintln!("bus conformance: SKIPPING the AMQP bus: {e}");
            false
        }
    }
}

/// Unique names per run, so reruns against one broker never see old messages.
fn topology(tag: &str) -> Topology {
    let n = format!("t{}{}", tag, std::process::id() % 100_000);
    Topology::named(&n)
}

async fn timeout<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("timed out")
}

async fn suite(name: &str, bus: Arc<dyn Bus>, t: Topology) {
    eprintln!("bus conformance: {name}");
    bus.declare(&t).await.unwrap();
    bus.declare(&t).await.expect("declare is idempotent");
    let key_a = format!("{}.u1.stage.inst.client1", t.application_name);
    let other = format!("{}x.u1.client1", t.application_name);
    // Routing: `<app>.#` gets the app's keys and nothing else.
    for i in 0..5 {
        bus.publish(
            &t.exchange,
            &key_a,
            format!("{{\"n\":{i}}}").as_bytes(),
            Some(&format!("id-{i}")),
        )
        .await
        .unwrap();
    }
    assert!(
        bus.publish(&t.exchange, &other, b"{}", None).await.is_err() || name == "memory",
        "unroutable publish must fail on AMQP"
    );
    let mut sub = bus.subscribe(&t, 2).await.unwrap();
    let d0 = timeout(sub.next()).await.unwrap().unwrap();
    assert_eq!(d0.body, b"{\"n\":0}");
    assert_eq!(d0.routing_key, key_a);
    assert_eq!(d0.message_id.as_deref(), Some("id-0"));
    assert!(!d0.redelivered);
    let d1 = timeout(sub.next()).await.unwrap().unwrap();
    // Prefetch 2: a third delivery waits for an acknowledgement.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sub.next())
            .await
            .is_err(),
        "prefetch exceeded"
    );
    d1.acker.ack(true).await.unwrap(); // acknowledges d0 and d1
    let d2 = timeout(sub.next()).await.unwrap().unwrap();
    assert_eq!(d2.body, b"{\"n\":2}");
    // Dropping a consumer with an unacknowledged delivery: it comes back, marked redelivered.
    drop(d2);
    drop(sub);
    let mut sub = bus.subscribe(&t, 10).await.unwrap();
    let again = timeout(sub.next()).await.unwrap().unwrap();
    assert_eq!(again.body, b"{\"n\":2}");
    assert!(again.redelivered);
    let mut rest = vec![again];
    while rest.len() < 3 {
        rest.push(timeout(sub.next()).await.unwrap().unwrap());
    }
    assert_eq!(
        rest.iter().map(|d| d.body.clone()).collect::<Vec<_>>(),
        vec![
            b"{\"n\":2}".to_vec(),
            b"{\"n\":3}".to_vec(),
            b"{\"n\":4}".to_vec()
        ]
    );
    rest.last().unwrap().acker.ack(true).await.unwrap();
    // A body larger than the AMQP frame rohe asks for (16 KB) arrives whole, in order.
    let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    bus.publish(&t.exchange, &key_a, &big, Some("big"))
        .await
        .unwrap();
    let d = timeout(sub.next()).await.unwrap().unwrap();
    assert_eq!(d.message_id.as_deref(), Some("big"));
    assert!(
        d.body == big,
        "a {} byte body came back as {} bytes",
        big.len(),
        d.body.len()
    );
    d.acker.ack(false).await.unwrap();
    // Dead letters keep the reason and the original key.
    bus.dead_letter(&t, &key_a, b"not json", "not_json: expected value")
        .await
        .unwrap();
    let dead = timeout(async {
        loop {
            let d = bus.peek_dead_letters(&t, 10).await.unwrap();
            if !d.is_empty() {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, "not_json: expected value");
    assert_eq!(dead[0].routing_key, key_a);
    assert_eq!(dead[0].preview, "not json");
    assert_eq!(
        bus.peek_dead_letters(&t, 10).await.unwrap().len(),
        1,
        "peeking does not consume"
    );
    drop(sub);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bus.queue_depth(&t).await.unwrap(), Some(0));
    bus.remove(&t).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    suite("memory", Arc::new(MemoryBus::new()), topology("m")).await;
    let amqp = AmqpBus::new(&amqp_url());
    let t = topology("a");
    if amqp_available(&amqp, &t).await {
        suite("amqp (RabbitMQ)", Arc::new(amqp), t).await;
    }
}
