//! The JSON bodies of the endpoints (docs/FORMATS.md, "Reward service").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /get_reward`, OpenRLHF's remote reward-model request: `query[i]` is prompt + response
/// as the policy's tokenizer decodes them, `prompts[i]` the prompt (a prefix of the query,
/// stripped to get the response), `labels[i]` a reference answer.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GetRewardRequest {
    /// Prompt + response texts.
    pub query: Vec<String>,
    /// The prompts, one per query (absent: each query is scored as a response to an empty
    /// prompt).
    #[serde(default)]
    pub prompts: Option<Vec<String>>,
    /// Reference answers, one per query (given to RMs that use one, e.g. verifiers).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
}

/// The answer to [`GetRewardRequest`]: OpenRLHF reads `rewards`, `scores` and `extra_logs`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct GetRewardResponse {
    /// The routed RM's score of each item.
    pub rewards: Vec<f64>,
    /// The same scores (OpenRLHF's `scores` field).
    pub scores: Vec<f64>,
    /// Per-item numbers OpenRLHF logs: `route_id`, `rm_index` (the routed arm),
    /// `propensity` (its probability under the router at that moment).
    pub extra_logs: BTreeMap<String, Vec<f64>>,
    /// Per item: the route (id, RM name, propensity, whole arm distribution).
    pub routes: Vec<RouteInfo>,
}

/// One routing decision, as a client sees it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct RouteInfo {
    /// The id feedback refers to.
    pub route_id: u64,
    /// The routed RM's name.
    pub rm: String,
    /// Its index in the pool (the arm).
    pub arm: usize,
    /// P(this arm) under the router for this context.
    pub propensity: Option<f64>,
    /// The router's whole distribution over the pool's RMs, `[K]`.
    pub propensities: Option<Vec<f64>>,
}

/// `POST /route_pairs`: candidate pairs of one prompt's responses for online / iterative
/// DPO, each routed to one RM.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutePairsRequest {
    /// The prompt (one user turn).
    pub prompt: String,
    /// The sampled responses.
    pub responses: Vec<String>,
    /// Pairs of response indices (absent: every pair, (0, 1), (0, 2), …).
    #[serde(default)]
    pub pairs: Option<Vec<[usize; 2]>>,
    /// A reference answer for RMs that use one (and for the service's verifier).
    #[serde(default)]
    pub label: Option<String>,
    /// The prompt's category (the synthetic verifier's domain: add, reverse, sort, count, shuffle).
    #[serde(default)]
    pub category: Option<String>,
}

/// One routed and judged pair.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct JudgedPair {
    /// The pair's response indices.
    pub pair: [usize; 2],
    /// The route.
    #[serde(flatten)]
    pub route: RouteInfo,
    /// The routed RM's scores of the two responses.
    pub scores: [f64; 2],
    /// The preferred response (0 or 1, an index into `pair`), `null` on a tie.
    pub preferred: Option<usize>,
    /// The reward the service gave this route itself (its verifier or an audit; the route
    /// is then closed, so send no feedback for it), else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<f64>,
    /// Where `reward` came from: `verifier` or `audit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_source: Option<FeedbackSource>,
}

/// The answer to [`RoutePairsRequest`].
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct RoutePairsResponse {
    /// The pairs, in request order.
    pub pairs: Vec<JudgedPair>,
}

/// `POST /feedback`: what became of routed items, by route id.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// One entry per route.
    pub items: Vec<FeedbackItem>,
}

/// One route's outcome: a DPO loss (normalised by the service's normaliser, all losses of
/// one call forming one batch) or a reward given directly.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackItem {
    /// The route id from `/get_reward` or `/route_pairs`.
    pub route_id: u64,
    /// The pair's DPO loss before the step, nats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// A reward in the bandit's units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<f64>,
}

/// Where a feedback event's rewards came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackSource {
    /// A client's `POST /feedback` (losses or rewards).
    #[default]
    Client,
    /// The service's verifier, on pairs whose request carried a label it decides.
    Verifier,
    /// An audit: every RM scored the pair; the reward is agreement with their majority.
    Audit,
}

impl FeedbackSource {
    /// The name used in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Verifier => "verifier",
            Self::Audit => "audit",
        }
    }
}

/// The answer to [`FeedbackRequest`].
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct FeedbackResponse {
    /// Items that updated the bandit (a normaliser warming up gives no reward yet).
    pub applied: usize,
    /// Items the call consumed (every route id it named).
    pub consumed: usize,
    /// Bandit updates since the service's state began.
    pub updates: u64,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The pool's RMs.
    pub rms: Vec<String>,
    /// Which of them can be called now.
    pub available: Vec<bool>,
    /// Routes awaiting feedback.
    pub pending: usize,
    /// Bandit updates so far.
    pub updates: u64,
}

/// Every error's body.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct ErrorBody {
    /// What is wrong, naming the field, limit or id.
    pub error: String,
}
