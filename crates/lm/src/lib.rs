//! Transformer language models for reward-model routing.
//!
//! The policy, the LLM-judge reward models and the offline router's encoder are all
//! transformers; this crate loads them from the formats users have — Hugging Face folders
//! (config.json + safetensors) and GGUF files — and runs them on burn.
//!
//! What is here: the Llama-family decoders (Llama/SmolLM2/Mistral, Qwen2, Qwen3) with causal-LM
//! and sequence-classification heads, loaded from Hugging Face folders (single or sharded
//! safetensors, f32/bf16/f16) or GGUF files (dequantised, llama q/k permutation undone);
//! tokenizers from tokenizer.json or GGUF metadata; chat templates; greedy decoding.
//! The BERT encoder (sentence embeddings: mean pooling + L2 norm) loads from HF folders.
//! Batched KV-cached sampling, differentiable sequence log-probabilities, LoRA adapters in
//! PEFT's format, an AdamW step with global-norm clipping and accumulation, and saving as a
//! Hugging Face folder make it a DPO policy.
//!
//! Key design decision: bytes from a file never cause a panic or an unbounded allocation.
//! Every length is capped (with the reason next to the cap) and checked against what is
//! left of the stream before it is used.

pub mod allocator;
mod chat;
mod config;
pub mod cpu;
mod device;
mod error;
mod generate;
mod load;
mod logprobs;
mod models;
mod nn;
mod optimizer;
mod peft;
mod save;
mod tokenizer;

pub use crate::{
    chat::{ChatMessage, render_chat_template},
    config::{
        bert::{BertConfig, Gelu, HfBertConfig},
        decoder::{
            DecoderConfig, DecoderFamily, HfDecoderCommon, HfDecoderConfig, HfRopeScaling,
            RopeScaling, TokenIds,
        },
        llama::LlamaConfig,
        qwen2::Qwen2Config,
        qwen3::Qwen3Config,
    },
    device::DeviceSpec,
    error::{Error, Result},
    generate::{
        FinishReason, Generation, GenerationRequest, SamplingParams, generate, greedy_generate,
        greedy_generate_uncached,
    },
    load::{
        gguf::{Gguf, MetadataValue, TensorInfo},
        model::{
            is_gguf, load_bert, load_causal_lm, load_sequence_classifier, load_tokenizer,
            read_decoder_config,
        },
        quant::{GgmlType, dequantize},
        weights::WeightDType,
    },
    logprobs::{
        SequenceLogprobs, next_token_logprobs, policy_and_reference_logprobs, sequence_logprobs,
    },
    models::{
        batch::{PaddingSide, TokenBatch},
        bert::BertModel,
        decoder::{CausalLm, DecoderModel, SequenceClassifier},
    },
    nn::{
        kv_cache::KvCache,
        lora::{LORA_TARGETS, LoraConfig},
    },
    optimizer::{Optimizer, OptimizerConfig, StepOutcome, StepReport},
    peft::{load_adapter, save_adapter},
    save::{save_classifier_pretrained, save_pretrained},
    tokenizer::Tokenizer,
};
