//! Routing: the iteration's contexts (the offline router's e(x, a, b) per candidate pair,
//! the policy's mean prompt embedding for LASeR, or a constant) and one route per pair.

use bandit::ArmMask;
use lm::CausalLm;
use router_export::CandidateGroup;

use crate::error::Result;
use crate::labels::{NoLabeller, Route};
use crate::strategy::{ContextKind, mean_prompt_embedding};

use super::sampling::Drawn;
use super::state::Trainer;

/// An iteration's routing contexts.
pub(super) struct Contexts {
    /// `[rows, dim]`, row-major.
    pub(super) values: Vec<f64>,
    /// Context dimension (0 when the strategy routes without contexts).
    pub(super) dim: usize,
    /// Per prompt of the batch and candidate pair: its row.
    pub(super) rows: Vec<Vec<usize>>,
}

impl Contexts {
    /// Row `row`, `[dim]`.
    pub(super) fn row(&self, row: usize) -> &[f64] {
        &self.values[row * self.dim..(row + 1) * self.dim]
    }
}

impl Trainer {
    /// The routing contexts of the iteration (`policy`: the current one, without a graph).
    pub(super) fn contexts(&self, policy: &CausalLm, drawn: &Drawn) -> Result<Contexts> {
        let (prompts, pairs) = (drawn.batch.len(), drawn.pairs.len());
        let per_pair_rows = || -> Vec<Vec<usize>> {
            (0..prompts)
                .map(|p| (0..pairs).map(|j| p * pairs + j).collect())
                .collect()
        };
        match self.strategy.context {
            None => Ok(Contexts {
                values: Vec::new(),
                dim: 0,
                rows: Vec::new(),
            }),
            Some(ContextKind::Constant) => Ok(Contexts {
                values: vec![1.0; prompts * pairs],
                dim: 1,
                rows: per_pair_rows(),
            }),
            Some(ContextKind::Pair) => {
                let (values, dim) = self.pair_contexts(drawn)?;
                Ok(Contexts {
                    values,
                    dim,
                    rows: per_pair_rows(),
                })
            }
            Some(ContextKind::PromptEmbedding { per_prompt }) => {
                Ok(self.prompt_contexts(policy, drawn, per_prompt))
            }
        }
    }

    /// The offline router's e(x, a, b) of every candidate pair, `[prompts · pairs, dim]`.
    fn pair_contexts(&self, drawn: &Drawn) -> Result<(Vec<f64>, usize)> {
        let context_fn = self
            .context_fn
            .as_ref()
            .expect("pair strategies load the export");
        let groups: Vec<CandidateGroup<'_>> = drawn
            .batch
            .iter()
            .zip(&drawn.responses)
            .map(|(&p, responses)| CandidateGroup {
                prompt: &self.prompts[p].messages,
                responses,
                pairs: &drawn.pairs,
            })
            .collect();
        let contexts = context_fn.candidate_contexts(&groups)?;
        let [_, dim] = contexts.dims();
        let values: Vec<f64> = contexts
            .try_into_vec_as::<f64>()
            .expect("a float tensor converts to f64");
        Ok((values, dim))
    }

    /// LASeR's contexts: each prompt's mean input-token embedding under the current policy
    /// (`per_prompt`), or the batch's mean of them shared by every pair.
    fn prompt_contexts(&self, policy: &CausalLm, drawn: &Drawn, per_prompt: bool) -> Contexts {
        let pairs = drawn.pairs.len();
        let means: Vec<Vec<f64>> = drawn
            .batch
            .iter()
            .map(|&p| mean_prompt_embedding(policy, &self.prompt_tokens[p], &self.device))
            .collect();
        let dim = self.decoder.d_model;
        if per_prompt {
            let rows = (0..drawn.batch.len()).map(|p| vec![p; pairs]).collect();
            return Contexts {
                values: means.concat(),
                dim,
                rows,
            };
        }
        // The batch's context: the mean of its prompts' means.
        let mut context = vec![0.0; dim];
        for mean in &means {
            for (c, m) in context.iter_mut().zip(mean) {
                *c += m / means.len() as f64;
            }
        }
        Contexts {
            values: context,
            dim,
            rows: vec![vec![0; pairs]; drawn.batch.len()],
        }
    }

    /// One route per candidate pair (by prompt, then pair) for strategies with a router; none
    /// for the others. `Ok(Err(_))` when no arm is available (the iteration is skipped).
    pub(super) fn route(
        &mut self,
        contexts: &Contexts,
        mask: &ArmMask,
    ) -> Result<std::result::Result<Vec<Vec<Route>>, NoLabeller>> {
        let Some(bandit) = self.strategy.bandit.as_mut() else {
            return Ok(Ok(Vec::new()));
        };
        let choices = if mask.count_available() == 0 {
            Err(bandit::Error::NoArmAvailable {
                reason: "every RM of the pool is unavailable".into(),
            })
        } else {
            bandit.select_batch(&contexts.values, mask)
        };
        let choices = match choices {
            Ok(choices) => choices,
            Err(bandit::Error::NoArmAvailable { reason }) => return Ok(Err(NoLabeller(reason))),
            Err(err) => return Err(err.into()),
        };
        Ok(Ok(contexts
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&r| Route {
                        choice: choices[r].clone(),
                        rerouted: false,
                        context_row: r,
                    })
                    .collect()
            })
            .collect()))
    }
}
