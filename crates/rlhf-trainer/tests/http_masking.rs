//! A remote RM (OpenRLHF's `/get_reward` on a real tiny_http server on 127.0.0.1) that dies
//! mid-run: its pairs are re-routed, then its circuit breaker masks it before routing, and
//! once the server is back and its cooldown is over it is routed to again. The run never
//! stops. The breaker's cooldown runs on a manual clock, so no step depends on wall time.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use json_http::ManualClock;
use rlhf_trainer::{Overrides, Trainer, TrainerConfig};
use rm_pool::backends::http::{HttpProtocol, HttpRm, HttpRmConfig};
use rm_pool::{RewardModel, RmPool};
use serde_json::{Value, json};

use crate::common::{fn_rms, write_config};

/// A reward server: the reward of a text is its length / 100.
struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(port: u16) -> (Self, u16) {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", port)).unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let listening = server.clone();
        let thread = std::thread::spawn(move || {
            while let Ok(mut request) = listening.recv() {
                let mut body = String::new();
                request.as_reader().read_to_string(&mut body).unwrap();
                let query: Value = serde_json::from_str(&body).unwrap();
                let rewards: Vec<f64> = query["query"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().len() as f64 / 100.0)
                    .collect();
                let text = json!({ "rewards": rewards }).to_string();
                let _ = request.respond(tiny_http::Response::from_string(text));
            }
        });
        (
            Self {
                server,
                thread: Some(thread),
            },
            port,
        )
    }

    /// Stops listening: the port is closed.
    fn stop(mut self) {
        self.server.unblock();
        self.thread.take().unwrap().join().unwrap();
    }
}

#[test]
fn a_dead_server_is_masked_rerouted_and_routed_again_when_back() {
    let (server, port) = Server::start(0);
    let clock = ManualClock::new();
    let cooldown = Duration::from_secs(600);
    let remote = HttpRm::with_clock(
        "remote",
        HttpRmConfig {
            url: format!("http://127.0.0.1:{port}/get_reward"),
            protocol: HttpProtocol::Openrlhf,
            model: None,
            template: "{{ response }}".into(),
            label_index: 0,
            batch_size: 8,
            retry: json_http::RetryPolicy {
                timeout_s: 2.0,
                max_retries: 0,
                backoff_s: 0.0,
            },
            breaker_failures: 1,
            breaker_cooldown_s: cooldown.as_secs_f64(),
        },
        Arc::new(clock.clone()),
    )
    .unwrap();
    let rms = fn_rms();
    let pool = RmPool::new(vec![
        Box::new(rms[0].clone()) as Box<dyn RewardModel>,
        Box::new(rms[1].clone()),
        Box::new(remote),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "kind = \"random\"", "");
    let config = TrainerConfig::read(&path, &Overrides::default()).unwrap();
    let mut trainer = Trainer::with_pool(config, pool, false).unwrap();
    let remote_judged = |report: &rlhf_trainer::IterationReport| {
        report
            .routing
            .iter()
            .filter(|r| r.visited && r.arm == Some(2))
            .count()
    };

    let up = trainer.step().unwrap();
    assert!(remote_judged(&up) > 0, "the live server judged nothing");

    server.stop();
    let dying = trainer.step().unwrap();
    assert!(dying.skipped.is_none());
    assert_eq!(remote_judged(&dying), 0);
    assert!(dying.routing.iter().any(|r| r.rerouted));

    // The breaker is open: the arm is masked before routing, so nothing is even routed to it.
    let masked = trainer.step().unwrap();
    assert!(masked.routing.iter().all(|r| r.arm != Some(2)));
    assert!(!masked.routing.iter().any(|r| r.rerouted));

    // Back, but cooling down: still masked.
    let (server, _) = Server::start(port);
    let cooling = trainer.step().unwrap();
    assert!(cooling.routing.iter().all(|r| r.arm != Some(2)));
    clock.advance(cooldown);
    let back = trainer.step().unwrap();
    assert!(
        remote_judged(&back) > 0,
        "not routed to after the server came back"
    );
    server.stop();
}
