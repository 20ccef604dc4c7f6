//! The export the online stage loads: one versioned safetensors file, `router.safetensors`,
//! holding the fusion layer and heads (PyTorch layouts: Linear weights `[out, in]`), the K
//! unit Bradley–Terry vectors as `prior.means` `[K, d]` (the bandit's prior means), and in
//! its metadata (key `offline_router`, JSON) the RM names in arm order, d, and what rebuilds
//! the context function e(prompt, a, b): the backbone's family, path, truncation and text
//! format. A backbone that was trained (LoRA merged, or full) is saved beside the file as a
//! Hugging Face folder `encoder/`; a frozen one is referenced by its original path. (The
//! offline trainer adds `split.json` beside them: which prompts it trained, selected and
//! held out on.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{LayerNormConfig, Linear};
use burn::prelude::*;
use lm::{CausalLm, ChatMessage, save_pretrained};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::encoder::{Backbone, BackboneKind, TextEncoder, load_backbone, pair_text};
use crate::error::{Error, Result};
use crate::head::RouterHead;

/// Format tag in the export's metadata.
pub const EXPORT_FORMAT: &str = "offline-router";
/// Version of the export this build writes and reads.
pub const EXPORT_VERSION: u32 = 1;
/// The export's file name inside its folder.
pub const EXPORT_FILE: &str = "router.safetensors";
/// Version of the text format of [`pair_text`].
pub const TEXT_FORMAT: u32 = 1;
/// Metadata key holding [`ExportMeta`] as JSON.
const METADATA_KEY: &str = "offline_router";
/// Folder (beside the export file) of a trained backbone.
const ENCODER_DIR: &str = "encoder";

/// What the export says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportMeta {
    /// [`EXPORT_FORMAT`].
    pub format: String,
    /// [`EXPORT_VERSION`].
    pub version: u32,
    /// RM names in arm order.
    pub rm_names: Vec<String>,
    /// Context dimension d.
    pub dim: usize,
    /// How to rebuild the encoder.
    pub encoder: EncoderSpec,
    /// Training updates behind these weights.
    pub step: usize,
    /// These weights were chosen by their validation accuracy (`best/`, or `final/` when
    /// training stopped early), so that accuracy is optimistic.
    #[serde(default)]
    pub selected_on_validation: bool,
}

/// The encoder half of the context function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderSpec {
    /// Decoder (last-token pooling) or BERT (mean pooling).
    pub kind: BackboneKind,
    /// The backbone: relative paths are relative to the export's folder.
    pub path: PathBuf,
    /// Tokens per text after right truncation.
    pub max_tokens: usize,
    /// Version of the text format ([`TEXT_FORMAT`]).
    pub text_format: u32,
}

/// Writes the export's files into `dir` (a staging folder the caller swaps in whole):
/// `router.safetensors`, and `encoder/` when `trained` holds the trained decoder (merged and
/// saved as a Hugging Face folder; `meta`'s encoder path then points there).
pub fn write_export_files(
    dir: &Path,
    meta: &ExportMeta,
    head: &RouterHead,
    trained: Option<(&CausalLm, &TextEncoder)>,
) -> Result<()> {
    let mut meta = meta.clone();
    if let Some((model, text)) = trained {
        let config = text
            .decoder_config()
            .ok_or_else(|| Error::Input("a trained encoder must be a decoder".into()))?;
        let merged = model.clone().merge_lora();
        save_pretrained(
            &dir.join(ENCODER_DIR),
            &merged,
            config,
            Some(text.tokenizer()),
        )?;
        meta.encoder.path = PathBuf::from(ENCODER_DIR);
    }
    write_head(&dir.join(EXPORT_FILE), &meta, head)
}

fn write_head(path: &Path, meta: &ExportMeta, head: &RouterHead) -> Result<()> {
    let tensors: Vec<(&str, Tensor<2>)> = vec![
        ("fusion.weight", head.fusion.weight.val().transpose()),
        ("norm.weight", head.norm.gamma.val().unsqueeze_dim(0)),
        ("bt.weight", head.bt.val()),
        ("cls.weight", head.cls.val()),
        ("cls.bias", head.cls_bias.val().unsqueeze_dim(0)),
        ("reg.weight", head.reg.val()),
        ("reg.bias", head.reg_bias.val().unsqueeze_dim(0)),
        ("prior.means", head.bt_unit_vectors()),
    ];
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, tensor) in tensors {
        let squeeze = name.ends_with(".bias") || name == "norm.weight";
        let (shape, values) = floats(tensor);
        let shape = if squeeze { vec![shape[1]] } else { shape };
        owned.push((name.into(), shape, values));
    }
    let vectors = [
        ("fusion.bias", head.fusion.bias.as_ref().map(|b| b.val())),
        ("norm.bias", head.norm.beta.as_ref().map(|b| b.val())),
    ];
    for (name, tensor) in vectors {
        let tensor = tensor.ok_or_else(|| Error::Input(format!("head has no {name}")))?;
        let (shape, values) = floats(tensor.unsqueeze_dim::<2>(0));
        owned.push((name.into(), vec![shape[1]], values));
    }
    owned.sort_by(|a, b| a.0.cmp(&b.0));
    let views = owned
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|err| Error::artifact(path, format!("tensor {name}: {err}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let json = serde_json::to_string(meta)
        .map_err(|err| Error::Input(format!("serialising export metadata: {err}")))?;
    let metadata = HashMap::from([(METADATA_KEY.to_string(), json)]);
    safetensors::serialize_to_file(views, Some(metadata), path)
        .map_err(|err| Error::artifact(path, err.to_string()))
}

/// `(shape, little-endian f32 bytes)` of a 2-D tensor.
fn floats(tensor: Tensor<2>) -> (Vec<usize>, Vec<u8>) {
    let shape = tensor.dims().to_vec();
    let values: Vec<f32> = tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("numeric tensors convert");
    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    (shape, bytes)
}

/// A loaded export: its metadata and head.
#[derive(Debug)]
pub struct RouterExport {
    /// What the export says about itself.
    pub meta: ExportMeta,
    /// Fusion and heads.
    pub head: RouterHead,
    /// The export's folder (relative encoder paths start here).
    pub dir: PathBuf,
}

impl RouterExport {
    /// Loads `path` (the export file, or the folder holding `router.safetensors`) onto
    /// `device`, checking format, version and every tensor's shape.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let file = if path.is_dir() {
            path.join(EXPORT_FILE)
        } else {
            path.to_path_buf()
        };
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let bytes = std::fs::read(&file).map_err(atomic_write::io_error(&file))?;
        let bad = |reason: String| Error::artifact(&file, reason);
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| bad(format!("no `{METADATA_KEY}` metadata: not a router export")))?;
        let meta: ExportMeta =
            serde_json::from_str(json).map_err(|e| bad(format!("metadata: {e}")))?;
        if (meta.format.as_str(), meta.version) != (EXPORT_FORMAT, EXPORT_VERSION) {
            return Err(bad(format!(
                "format {} v{}, this build reads {EXPORT_FORMAT} v{EXPORT_VERSION}",
                meta.format, meta.version
            )));
        }
        if meta.encoder.text_format != TEXT_FORMAT {
            return Err(bad(format!(
                "text format {} (this build has {TEXT_FORMAT})",
                meta.encoder.text_format
            )));
        }
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let (d, k) = (meta.dim, meta.rm_names.len());
        let read = |name: &str, shape: &[usize]| -> Result<TensorData> {
            let view = tensors
                .tensor(name)
                .map_err(|_| bad(format!("missing tensor `{name}`")))?;
            if view.shape() != shape || view.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor `{name}` is {:?} {:?}, expected F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Ok(TensorData::new(values, shape.to_vec()))
        };
        let matrix = |name: &str, shape: [usize; 2]| -> Result<Param<Tensor<2>>> {
            Ok(Param::from_tensor(Tensor::from_data(
                read(name, &shape)?,
                device,
            )))
        };
        let vector = |name: &str, len: usize| -> Result<Param<Tensor<1>>> {
            Ok(Param::from_tensor(Tensor::from_data(
                read(name, &[len])?,
                device,
            )))
        };
        let mut norm = LayerNormConfig::new(d).with_epsilon(1e-5).init(device);
        norm.gamma = vector("norm.weight", d)?;
        norm.beta = Some(vector("norm.bias", d)?);
        let head = RouterHead {
            fusion: Linear {
                weight: Param::from_tensor(
                    Tensor::<2>::from_data(read("fusion.weight", &[d, 2 * d])?, device).transpose(),
                ),
                bias: Some(vector("fusion.bias", d)?),
            },
            norm,
            bt: matrix("bt.weight", [k, d])?,
            cls: matrix("cls.weight", [k, d])?,
            cls_bias: vector("cls.bias", k)?,
            reg: matrix("reg.weight", [k, d])?,
            reg_bias: vector("reg.bias", k)?,
        };
        Ok(Self { meta, head, dir })
    }

    /// The bandit prior: arm k named `rm_names[k]` with mean v̂_k (METHOD.md §3).
    pub fn prior(&self) -> Result<bandit::Prior> {
        let means = self.head.bt_unit_vectors();
        let [k, d] = means.dims();
        let values: Vec<f32> = means
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("numeric tensors convert");
        let arms = (0..k)
            .map(|arm| {
                let mean = values[arm * d..(arm + 1) * d]
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                (self.meta.rm_names[arm].clone(), mean)
            })
            .collect();
        Ok(bandit::Prior::new(arms)?)
    }

    /// Checks that the online pool has exactly this export's RMs, in its arm order, and
    /// that the online contexts have its dimension.
    pub fn check_pool(&self, pool_names: &[String], dim: usize) -> Result<()> {
        if pool_names != self.meta.rm_names.as_slice() {
            return Err(Error::artifact(
                self.dir.join(EXPORT_FILE),
                format!(
                    "the router was trained for RMs {:?} (in this arm order) but the pool has {:?}",
                    self.meta.rm_names, pool_names
                ),
            ));
        }
        if dim != self.meta.dim {
            return Err(Error::artifact(
                self.dir.join(EXPORT_FILE),
                format!(
                    "the router's contexts have d = {}, not {dim}",
                    self.meta.dim
                ),
            ));
        }
        Ok(())
    }

    /// The backbone's path, resolved against the export's folder.
    pub fn encoder_path(&self) -> PathBuf {
        self.dir.join(&self.meta.encoder.path)
    }

    /// Loads the backbone and returns the context function e(prompt, a, b) on `device`.
    pub fn into_context_function(
        self,
        device: &Device,
        batch_size: usize,
    ) -> Result<ContextFunction> {
        let path = self.encoder_path();
        let (text, backbone) = load_backbone(&path, self.meta.encoder.max_tokens, device)?;
        if text.kind() != self.meta.encoder.kind || text.dim() != self.meta.dim {
            return Err(Error::artifact(
                path,
                format!(
                    "backbone is a {:?} of width {}, the export expects a {:?} of width {}",
                    text.kind(),
                    text.dim(),
                    self.meta.encoder.kind,
                    self.meta.dim
                ),
            ));
        }
        let backbone_key = BackboneKey {
            path: path.canonicalize().unwrap_or(path),
            max_tokens: self.meta.encoder.max_tokens,
            text_format: self.meta.encoder.text_format,
        };
        Ok(ContextFunction {
            text,
            backbone,
            backbone_key,
            head: self.head,
            meta: self.meta,
            device: device.clone(),
            batch_size: batch_size.max(1),
        })
    }
}

/// e(prompt, a, b) and the offline router's scores, rebuilt from an export.
#[derive(Debug)]
pub struct ContextFunction {
    text: TextEncoder,
    backbone: Backbone,
    backbone_key: BackboneKey,
    head: RouterHead,
    meta: ExportMeta,
    device: Device,
    batch_size: usize,
}

/// What a context function's text embeddings depend on: two with equal keys embed every
/// text alike (e.g. `best/` and `final/` of a run with a frozen backbone, which both read the
/// base model), so embeddings computed by one serve the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackboneKey {
    /// The backbone's files (canonical path).
    pub path: PathBuf,
    /// Tokens per text after truncation.
    pub max_tokens: usize,
    /// The text format's version.
    pub text_format: u32,
}

/// One candidate pair: the prompt and its two responses.
pub type PairRef<'a> = (&'a [ChatMessage], &'a str, &'a str);

/// A prompt's sampled responses and the pairs of them to encode (indices into
/// `responses`), for [`ContextFunction::candidate_contexts`].
#[derive(Clone, Copy, Debug)]
pub struct CandidateGroup<'a> {
    /// The conversation the responses answer.
    pub prompt: &'a [ChatMessage],
    /// The responses.
    pub responses: &'a [String],
    /// Pairs `(a, b)` of response indices.
    pub pairs: &'a [(usize, usize)],
}

impl ContextFunction {
    /// The export's metadata.
    pub fn meta(&self) -> &ExportMeta {
        &self.meta
    }

    /// Contexts of `pairs`, `[N, d]` with unit rows (symmetric in each pair's responses).
    pub fn contexts(&self, pairs: &[PairRef<'_>]) -> Result<Tensor<2>> {
        let (h_a, h_b) = self.embed_pairs(pairs)?;
        Ok(self.head.context(h_a, h_b))
    }

    /// The offline router's Bradley–Terry scores s_k = e·v̂_k of `pairs`, `[N, K]`.
    pub fn bt_scores(&self, pairs: &[PairRef<'_>]) -> Result<Tensor<2>> {
        let (h_a, h_b) = self.embed_pairs(pairs)?;
        Ok(self.head.forward(h_a, h_b).bt)
    }

    /// Contexts as rows of f64 (what the bandit takes).
    pub fn contexts_f64(&self, pairs: &[PairRef<'_>]) -> Result<Vec<Vec<f64>>> {
        Ok(rows_f64(self.contexts(pairs)?))
    }

    /// Contexts of candidate pairs that share responses, as online DPO forms them (every pair
    /// of a prompt's n samples): each distinct (prompt, response) text is embedded once, not
    /// once per pair it appears in (n(n−1)/2 pairs need n embeddings, not n(n−1)).
    ///
    /// # Shapes
    /// Returns `[N, d]` with unit rows, N = the total number of pairs, group by group in
    /// order; the same values as [`contexts`](Self::contexts) of those pairs.
    pub fn candidate_contexts(&self, groups: &[CandidateGroup<'_>]) -> Result<Tensor<2>> {
        let mut sequences = Vec::new();
        let (mut index_a, mut index_b) = (Vec::new(), Vec::new());
        for group in groups {
            let offset = sequences.len() as i64;
            for &(a, b) in group.pairs {
                if a >= group.responses.len() || b >= group.responses.len() {
                    return Err(Error::Input(format!(
                        "pair ({a}, {b}) of a group with {} responses",
                        group.responses.len()
                    )));
                }
                index_a.push(offset + a as i64);
                index_b.push(offset + b as i64);
            }
            for response in group.responses {
                sequences.push(self.text.tokenize(&pair_text(group.prompt, response))?);
            }
        }
        if index_a.is_empty() {
            return Err(Error::Input("no pairs to encode".into()));
        }
        // [texts, d]: every distinct response once.
        let hidden = self.embed(&sequences)?;
        let n = index_a.len();
        let device = hidden.device();
        let rows =
            |index: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(index, [n]), &device);
        // [N, d] each: the two responses of every pair.
        let h_a = hidden.clone().select(0, rows(index_a));
        let h_b = hidden.select(0, rows(index_b));
        Ok(self.head.context(h_a, h_b))
    }

    /// The backbone's pooled embeddings of tokenised texts, `[texts, d]`.
    /// What this function's text embeddings depend on ([`BackboneKey`]).
    pub fn backbone_key(&self) -> &BackboneKey {
        &self.backbone_key
    }

    /// The pooled backbone embedding h of each (prompt, response) text, before the fusion
    /// head; `progress` is told how many texts are done.
    ///
    /// # Shapes
    /// Returns `[texts.len(), D]` (D = the backbone's width).
    pub fn embed_responses(
        &self,
        texts: &[(&[ChatMessage], &str)],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Tensor<2>> {
        if texts.is_empty() {
            return Err(Error::Input("no texts to encode".into()));
        }
        let sequences = texts
            .iter()
            .map(|(prompt, response)| self.text.tokenize(&pair_text(prompt, response)))
            .collect::<Result<Vec<_>>>()?;
        self.text.embed_all(
            &self.backbone,
            &sequences,
            self.batch_size,
            &self.device,
            progress,
        )
    }

    /// The Bradley–Terry scores of pairs whose responses' embeddings are `h_a` and `h_b`
    /// (rows of [`embed_responses`](Self::embed_responses)).
    ///
    /// # Shapes
    /// `h_a`, `h_b`: `[N, D]`; returns `[N, K]`.
    pub fn bt_scores_of_embeddings(&self, h_a: Tensor<2>, h_b: Tensor<2>) -> Tensor<2> {
        self.head.forward(h_a, h_b).bt
    }

    fn embed(&self, sequences: &[Vec<u32>]) -> Result<Tensor<2>> {
        self.text.embed_all(
            &self.backbone,
            sequences,
            self.batch_size,
            &self.device,
            &mut |_| {},
        )
    }

    fn embed_pairs(&self, pairs: &[PairRef<'_>]) -> Result<(Tensor<2>, Tensor<2>)> {
        if pairs.is_empty() {
            return Err(Error::Input("no pairs to encode".into()));
        }
        let mut sequences = Vec::with_capacity(2 * pairs.len());
        for (prompt, a, b) in pairs {
            sequences.push(self.text.tokenize(&pair_text(prompt, a))?);
            sequences.push(self.text.tokenize(&pair_text(prompt, b))?);
        }
        let hidden = self.embed(&sequences)?;
        let n = pairs.len();
        let [_, d] = hidden.dims();
        // Rows alternate a, b: [N, 2, d].
        let paired = hidden.reshape([n, 2, d]);
        let h_a = paired.clone().narrow(1, 0, 1).reshape([n, d]);
        let h_b = paired.narrow(1, 1, 1).reshape([n, d]);
        Ok((h_a, h_b))
    }
}

/// Rows of a 2-D tensor as f64 vectors.
fn rows_f64(tensor: Tensor<2>) -> Vec<Vec<f64>> {
    let [_, d] = tensor.dims();
    let values: Vec<f32> = tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("numeric tensors convert");
    values
        .chunks(d.max(1))
        .map(|row| row.iter().map(|&v| f64::from(v)).collect())
        .collect()
}
