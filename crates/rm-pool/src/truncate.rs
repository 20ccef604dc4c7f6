//! Fitting an item into a model's context.
//!
//! The rule, for every in-process RM: the item is rendered (chat template, judge prompt) and
//! tokenized; if it has more than `max_tokens` tokens, the **response** is cut — its last
//! tokens dropped, as many as the overflow plus a small margin for re-tokenisation — and the
//! item rendered again, up to a few times. If the response is empty and the rendering still
//! does not fit, the prompt is too long on its own: the **first** tokens are dropped so the
//! end (the response and the template's closing tokens, which the score is read at) is
//! kept. Each truncated item is counted.

use lm::Tokenizer;

/// Re-renderings tried before falling back to cutting the token sequence.
const MAX_ROUNDS: usize = 4;
/// Extra response tokens dropped per round: re-tokenising the cut text can merge differently.
const MARGIN: usize = 4;

/// Tokens of `render(response)`, cut per the module rule to at most `max_tokens`; the flag
/// says whether anything was cut.
pub(crate) fn fit(
    tokenizer: &Tokenizer,
    response: &str,
    max_tokens: usize,
    render: impl Fn(&str) -> lm::Result<Vec<u32>>,
) -> lm::Result<(Vec<u32>, bool)> {
    let mut tokens = render(response)?;
    if tokens.len() <= max_tokens {
        return Ok((tokens, false));
    }
    let mut kept = response.to_string();
    for _ in 0..MAX_ROUNDS {
        let response_ids = tokenizer.encode(&kept, false)?;
        let overflow = tokens.len() - max_tokens;
        let keep = response_ids.len().saturating_sub(overflow + MARGIN);
        kept = tokenizer.decode(&response_ids[..keep], false)?;
        tokens = render(&kept)?;
        if tokens.len() <= max_tokens || keep == 0 {
            break;
        }
    }
    if tokens.len() > max_tokens {
        tokens.drain(..tokens.len() - max_tokens);
    }
    Ok((tokens, true))
}
