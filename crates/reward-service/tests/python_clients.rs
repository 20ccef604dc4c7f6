//! The Python clients (clients/python/rm_routing.py) against a running service: the TRL
//! reward function, verl's compute_score and the endpoint methods, run by python3.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bandit::Policy;

use crate::common::{Server, parts};

/// The clients' folder.
fn clients() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/python")
}

/// With every item routed to the `length` RM, TRL's reward function returns each
/// completion's length (strings and conversations alike), the online-DPO one each pair's
/// (completions i and i + B) and refuses another layout, verl's compute_score the
/// solution's, and a pair routed, then fed back, updates the bandit; an unknown route id
/// raises ServiceError with the service's status.
#[test]
fn python_clients_call_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        parts(Policy::Fixed { arm: 0 }, Duration::ZERO, 1),
        dir.path(),
        |_| {},
    );
    let script = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import rm_routing
url = sys.argv[2]
reward = rm_routing.trl_reward_function(url)
out = {}
out["trl"] = reward(prompts=["Q1 ", "Q2 "], completions=["four", "seven!!"])
out["trl_chat"] = reward(
    prompts=[[{"role": "user", "content": "Q"}]],
    completions=[[{"role": "assistant", "content": "abc"}]],
)
out["trl_labelled"] = reward(prompts=["Q "], completions=["xy"], solution=["12"])
pairwise = rm_routing.trl_pairwise_reward_function(url)
out["trl_pairs"] = pairwise(
    prompts=["Q", "R", "Q", "R"],
    completions=["a", "bbbb", "ccc", "d"],
    reference=["1", "2", "1", "2"],
)
try:
    pairwise(prompts=["Q", "R"], completions=["a", "b"])
except ValueError as err:
    out["layout_error"] = str(err)
out["verl"] = rm_routing.compute_score("synthetic", "twelve", "12", {"prompt": "P: "})
client = rm_routing.RoutingClient(url)
pairs = client.route_pairs("Say hi.", ["hi", "hello"])["pairs"]
out["preferred"] = pairs[0]["preferred"]
out["feedback"] = client.feedback([{"route_id": pairs[0]["route_id"], "reward": 1.0}])
try:
    client.feedback([{"route_id": 12345, "reward": 1.0}])
except rm_routing.ServiceError as err:
    out["error"] = [err.status, err.message]
print(json.dumps(out))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(clients())
        .arg(format!("http://{}", server.address))
        .env("RM_SERVICE_URL", format!("http://{}", server.address))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs (CI machines have it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["trl"], serde_json::json!([4.0, 7.0]));
    assert_eq!(out["trl_chat"], serde_json::json!([3.0]));
    assert_eq!(out["trl_labelled"], serde_json::json!([2.0]));
    // Pairs (0, 2) and (1, 3), each scored by its routed RM (length).
    assert_eq!(out["trl_pairs"], serde_json::json!([1.0, 4.0, 3.0, 1.0]));
    assert!(
        out["layout_error"]
            .as_str()
            .unwrap()
            .contains("different prompts"),
        "{out}"
    );
    assert_eq!(out["verl"], serde_json::json!(6.0));
    assert_eq!(out["preferred"], serde_json::json!(1));
    assert_eq!(out["feedback"]["consumed"], 1);
    assert_eq!(out["error"][0], 422);
    assert!(
        out["error"][1].as_str().unwrap().contains("route_id 12345"),
        "{out}"
    );
}
