//! Durability: the server process killed with SIGKILL in the middle of a feedback stream
//! restarts from its snapshot and journal with every acknowledged feedback applied; a
//! graceful stop snapshots.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bandit::{Feedback, Policy};
use reward_service::{RouterCore, Service, ServiceConfig};
use serde_json::json;

use crate::common::{Server, client, get_text, means, parts, post, serve_on_ephemeral_port};

const STATE_VAR: &str = "RM_SERVICE_TEST_STATE";
const PORT_VAR: &str = "RM_SERVICE_TEST_PORT_FILE";

/// The server process of [`sigkill_loses_no_acknowledged_feedback`]: this test binary run
/// again with only this test, serving until it is killed.
#[test]
#[ignore = "the server process that kill -9 test starts; not a test on its own"]
fn child_server() {
    let state = PathBuf::from(std::env::var(STATE_VAR).expect("run by the kill -9 test"));
    let port_file = PathBuf::from(std::env::var(PORT_VAR).expect("run by the kill -9 test"));
    let mut config = ServiceConfig::local(0, state);
    config.snapshot_every = 3;
    let service = Service::open(config, parts(Policy::Thompson, Duration::ZERO, 21)).unwrap();
    serve_on_ephemeral_port(
        service,
        move |address| {
            atomic_write::replace_file(&port_file, address.port().to_string().as_bytes()).unwrap();
        },
        reward_service::shutdown_signal(),
    );
}

/// Starts [`child_server`] on `state` and returns it with its port (the caller kills and
/// waits for it; clippy cannot see through the return).
#[allow(clippy::zombie_processes)]
fn start_child(state: &Path, port_file: &Path) -> (Child, u16) {
    let _ = std::fs::remove_file(port_file);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill9::child_server", "--ignored", "--nocapture"])
        .env(STATE_VAR, state)
        .env(PORT_VAR, port_file)
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let port = std::fs::read_to_string(port_file)
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok());
        if let Some(port) = port {
            return (child, port);
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not start within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One feedback call the client sent: (route id, arm, reward) per item, and whether the
/// server acknowledged it.
type Call = (Vec<(u64, usize, f64)>, bool);

/// Routes 3 items and sends their rewards back, over and over, until a request fails;
/// counts acknowledged feedback calls in `acknowledged`.
fn stream(port: u16, calls: &Mutex<Vec<Call>>, acknowledged: &AtomicUsize, stop: &AtomicBool) {
    let agent = client();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    for round in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let query: Vec<String> = (0..3).map(|i| format!("r{round} item {i}")).collect();
        let Ok(mut response) = agent
            .post(&url("/get_reward"))
            .send_json(json!({"query": query}))
        else {
            return;
        };
        let Ok(answer) = response.body_mut().read_json::<serde_json::Value>() else {
            return;
        };
        let items: Vec<(u64, usize, f64)> = answer["routes"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let reward = ((round + i) % 5) as f64 / 4.0;
                (
                    r["route_id"].as_u64().unwrap(),
                    r["arm"].as_u64().unwrap() as usize,
                    reward,
                )
            })
            .collect();
        let body: Vec<_> = items
            .iter()
            .map(|(id, _, reward)| json!({"route_id": id, "reward": reward}))
            .collect();
        calls.lock().unwrap().push((items, false));
        let acked = agent
            .post(&url("/feedback"))
            .send_json(json!({"items": body}))
            .is_ok_and(|r| r.status().as_u16() == 200);
        if !acked {
            return;
        }
        calls.lock().unwrap().last_mut().unwrap().1 = true;
        acknowledged.fetch_add(1, Ordering::SeqCst);
    }
}

/// The posterior means of a fresh router that absorbed `calls` in order.
fn reference_means(calls: &[&Vec<(u64, usize, f64)>]) -> Vec<Vec<f64>> {
    let mut bandit = parts(Policy::Thompson, Duration::ZERO, 21).bandit;
    let context = [1.0];
    for items in calls {
        let feedback: Vec<Feedback<'_>> = items
            .iter()
            .map(|&(_, arm, reward)| Feedback {
                arm,
                context: &context,
                reward,
            })
            .collect();
        bandit.update_batch(&feedback).unwrap();
    }
    (0..3).map(|k| bandit.mean(k).unwrap().to_vec()).collect()
}

/// SIGKILL mid-stream, then a restart (in this process, from the same state folder, as the
/// server does on start): its posterior equals a router fed exactly the acknowledged
/// feedback calls — or those and the one in flight when the process died, if it reached
/// the journal. The server process then restarts from that folder and serves on.
#[test]
fn sigkill_loses_no_acknowledged_feedback() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let port_file = dir.path().join("port");
    let (mut child, port) = start_child(&state, &port_file);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let streamer = {
        let (calls, acknowledged, stop) = (calls.clone(), acknowledged.clone(), stop.clone());
        std::thread::spawn(move || stream(port, &calls, &acknowledged, &stop))
    };
    let start = Instant::now();
    while acknowledged.load(Ordering::SeqCst) < 10 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the stream stalled"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    streamer.join().unwrap();

    let calls = calls.lock().unwrap().clone();
    let acked: Vec<&Vec<(u64, usize, f64)>> = calls
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(items, _)| items)
        .collect();
    assert!(acked.len() >= 10);
    let mut with_in_flight = acked.clone();
    if let Some((items, false)) = calls.last() {
        with_in_flight.push(items);
    }
    let fresh = parts(Policy::Thompson, Duration::ZERO, 21);
    let restored = RouterCore::open(&state, fresh.bandit, fresh.normalizer, 1 << 20).unwrap();
    let restored_means: Vec<Vec<f64>> = (0..3)
        .map(|k| restored.bandit().mean(k).unwrap().to_vec())
        .collect();
    let updates = restored.updates() as usize;
    drop(restored);
    let expected = reference_means(&acked);
    let expected_with_in_flight = reference_means(&with_in_flight);
    assert!(
        restored_means == expected || restored_means == expected_with_in_flight,
        "restored {restored_means:?}\nacknowledged {expected:?}\nwith in-flight {expected_with_in_flight:?}"
    );
    assert!(
        updates >= 3 * acked.len(),
        "{updates} updates for {} acknowledged calls",
        acked.len()
    );

    // The server process restarts from the folder and reports the same state.
    let (mut child, port) = start_child(&state, &port_file);
    let (_, text) = get_text(&client(), &format!("http://127.0.0.1:{port}/healthz"));
    let health: serde_json::Value = serde_json::from_str(&text).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(health["updates"].as_u64().unwrap() as usize, updates);
}

/// A graceful stop writes snapshot/; a service reopened on the folder has the same
/// posterior and pending routes, and answers feedback for routes issued before the stop.
#[test]
fn a_graceful_stop_snapshots_and_a_restart_continues() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        parts(Policy::Thompson, Duration::ZERO, 9),
        dir.path(),
        |_| {},
    );
    let agent = client();
    let (_, answer) = post(
        &agent,
        &server.url("/get_reward"),
        &json!({"query": ["a", "b", "c"]}),
    );
    let ids: Vec<u64> = answer["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["route_id"].as_u64().unwrap())
        .collect();
    let (status, _) = post(
        &agent,
        &server.url("/feedback"),
        &json!({"items": [{"route_id": ids[0], "reward": 1.0}]}),
    );
    assert_eq!(status, 200);
    let before = means(&server.service);
    drop(server);
    assert!(dir.path().join("snapshot").join("service.json").is_file());
    let server = Server::start(
        parts(Policy::Thompson, Duration::ZERO, 9),
        dir.path(),
        |_| {},
    );
    assert_eq!(means(&server.service), before);
    assert_eq!(server.service.core().pending(), 2);
    let (status, answer) = post(
        &agent,
        &server.url("/feedback"),
        &json!({"items": [{"route_id": ids[1], "reward": 0.5}, {"route_id": ids[2], "reward": 0.0}]}),
    );
    assert_eq!(status, 200, "{answer}");
    // New routes continue the ids.
    let (_, answer) = post(&agent, &server.url("/get_reward"), &json!({"query": ["d"]}));
    assert_eq!(answer["routes"][0]["route_id"].as_u64().unwrap(), 3);
}
