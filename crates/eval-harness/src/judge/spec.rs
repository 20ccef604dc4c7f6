//! A judge as a user names it on a command line or in a config: a local model (a Hugging Face
//! folder or a `.gguf` file, run in-process) or the base URL of an OpenAI-compatible server.

use std::path::Path;

use burn::prelude::Device;
use lm::{WeightDType, load_causal_lm, load_tokenizer};

use crate::error::{Error, Result};
use crate::judge::{Judge, LocalJudge, OpenAiJudge, OpenAiJudgeConfig};

/// Seconds an endpoint judge may take per request.
const ENDPOINT_TIMEOUT_S: f64 = 120.0;
/// Retries of an endpoint judge after a timeout, a connection error, 429 or 5xx.
const ENDPOINT_RETRIES: u32 = 3;

/// Which judge, and how long its replies may be.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeSpec {
    /// A local model's path, or an `http://` / `https://` base URL.
    pub target: String,
    /// The served model's name (endpoints only; e.g. `gpt-4`).
    pub served_model: String,
    /// Most tokens of a reply.
    pub max_tokens: usize,
}

impl JudgeSpec {
    /// Whether the judge is an OpenAI-compatible endpoint rather than a local model.
    pub fn is_endpoint(&self) -> bool {
        self.target.starts_with("http://") || self.target.starts_with("https://")
    }

    /// The judge, ready to call: an endpoint client (greedy, 120 s per request, 3 retries;
    /// the key from `$OPENAI_API_KEY` when set) or the local model loaded on `device` in f32
    /// (named after its file stem).
    pub fn open(&self, device: &Device) -> Result<Box<dyn Judge>> {
        if self.is_endpoint() {
            let config = OpenAiJudgeConfig {
                base_url: self.target.clone(),
                model: self.served_model.clone(),
                api_key_env: std::env::var_os("OPENAI_API_KEY").map(|_| "OPENAI_API_KEY".into()),
                temperature: 0.0,
                max_tokens: u32::try_from(self.max_tokens).unwrap_or(u32::MAX),
                retry: json_http::RetryPolicy {
                    timeout_s: ENDPOINT_TIMEOUT_S,
                    max_retries: ENDPOINT_RETRIES,
                    backoff_s: 1.0,
                },
            };
            return Ok(Box::new(OpenAiJudge::new(config)?));
        }
        let path = Path::new(&self.target);
        let model_error = |source| Error::Model {
            model: format!("the judge {}", self.target),
            source,
        };
        let (_, model) = load_causal_lm(path, device, WeightDType::F32).map_err(model_error)?;
        let tokenizer = load_tokenizer(path).map_err(model_error)?;
        let name = path.file_stem().map_or_else(
            || "local-judge".into(),
            |s| s.to_string_lossy().into_owned(),
        );
        Ok(Box::new(LocalJudge::new(
            name,
            model,
            tokenizer,
            device.clone(),
            self.max_tokens,
        )))
    }
}
