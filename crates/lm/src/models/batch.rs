//! Padded batches of token sequences.

use burn::prelude::*;

use crate::error::{Error, Result};

/// Which side padding goes on: right for scoring (positions stay 0..len), left for
/// generation (every row's next token lands in the same column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaddingSide {
    /// Pads after the tokens.
    Right,
    /// Pads before the tokens.
    Left,
}

/// A batch of token sequences padded to one length, with its attention mask and the
/// position of every token (counted over real tokens only, so left padding does not shift
/// positions).
#[derive(Clone, Debug)]
pub struct TokenBatch {
    /// `[batch_size, seq_len]` token ids (pad id in padding).
    pub input_ids: Tensor<2, Int>,
    /// `[batch_size, seq_len]`: 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor<2, Int>,
    /// `[batch_size, seq_len]` RoPE positions (0 in padding).
    pub positions: Tensor<2, Int>,
    /// Per row, the column of its last real token.
    pub last_index: Vec<usize>,
    /// Per row, the number of real tokens.
    pub lengths: Vec<usize>,
}

impl TokenBatch {
    /// Pads `sequences` with `pad_id` on `side`.
    ///
    /// Errors if there is no sequence or one is empty.
    pub fn new(
        sequences: &[Vec<u32>],
        pad_id: u32,
        side: PaddingSide,
        device: &Device,
    ) -> Result<Self> {
        if let Some(row) = sequences.iter().position(Vec::is_empty) {
            return Err(Error::Input {
                reason: format!("sequence {row} of the batch is empty"),
            });
        }
        let seq_len = sequences
            .iter()
            .map(Vec::len)
            .max()
            .ok_or_else(|| Error::Input {
                reason: "empty batch".into(),
            })?;
        let batch_size = sequences.len();
        let mut ids = Vec::with_capacity(batch_size * seq_len);
        let mut mask = Vec::with_capacity(batch_size * seq_len);
        let mut positions = Vec::with_capacity(batch_size * seq_len);
        let mut last_index = Vec::with_capacity(batch_size);
        for sequence in sequences {
            let pad = seq_len - sequence.len();
            let (before, after) = match side {
                PaddingSide::Right => (0, pad),
                PaddingSide::Left => (pad, 0),
            };
            ids.extend(std::iter::repeat_n(pad_id as i64, before));
            ids.extend(sequence.iter().map(|&t| t as i64));
            ids.extend(std::iter::repeat_n(pad_id as i64, after));
            mask.extend(std::iter::repeat_n(0_i64, before));
            mask.extend(std::iter::repeat_n(1_i64, sequence.len()));
            mask.extend(std::iter::repeat_n(0_i64, after));
            positions.extend(std::iter::repeat_n(0_i64, before));
            positions.extend(0..sequence.len() as i64);
            positions.extend(std::iter::repeat_n(0_i64, after));
            last_index.push(before + sequence.len() - 1);
        }
        let tensor = |values: Vec<i64>| {
            Tensor::<2, Int>::from_data(TensorData::new(values, [batch_size, seq_len]), device)
        };
        Ok(Self {
            input_ids: tensor(ids),
            attention_mask: tensor(mask),
            positions: tensor(positions),
            last_index,
            lengths: sequences.iter().map(Vec::len).collect(),
        })
    }

    /// `[batch_size, seq_len]`.
    pub fn dims(&self) -> [usize; 2] {
        self.input_ids.dims()
    }

    /// True where query i may not attend to key j: j > i (causal) or key j is padding.
    ///
    /// # Shapes
    /// Returns `[batch_size, 1, seq_len, seq_len]`.
    pub(crate) fn attention_block_mask(&self) -> Tensor<4, Bool> {
        let [batch_size, seq_len] = self.dims();
        let device = self.input_ids.device();
        // tril_mask is true strictly above the diagonal: the future keys.
        let causal = Tensor::<2, Bool>::tril_mask([seq_len, seq_len], 0, &device)
            .reshape([1, 1, seq_len, seq_len])
            .expand([batch_size, 1, seq_len, seq_len]);
        causal.bool_or(self.padding_block_mask())
    }

    /// True where a key is padding (no causal part: encoders see both directions).
    ///
    /// # Shapes
    /// Returns `[batch_size, 1, seq_len, seq_len]`.
    pub(crate) fn padding_block_mask(&self) -> Tensor<4, Bool> {
        let [batch_size, seq_len] = self.dims();
        self.attention_mask
            .clone()
            .equal_elem(0)
            .reshape([batch_size, 1, 1, seq_len])
            .expand([batch_size, 1, seq_len, seq_len])
    }

    /// One-hot selector of each row's last real token.
    ///
    /// # Shapes
    /// Returns `[batch_size, seq_len, 1]`.
    pub(crate) fn last_token_selector(&self) -> Tensor<3> {
        let [batch_size, seq_len] = self.dims();
        let mut values = vec![0.0_f32; batch_size * seq_len];
        for (row, &last) in self.last_index.iter().enumerate() {
            values[row * seq_len + last] = 1.0;
        }
        Tensor::from_data(
            TensorData::new(values, [batch_size, seq_len, 1]),
            &self.input_ids.device(),
        )
    }
}
