//! PyTorch-layout checkpoint tensors into burn's layout.
//!
//! burn-store's [`PyTorchToBurnAdapter`] transposes `Linear` weights from PyTorch's
//! `[out, in]` to burn's `[in, out]` one element at a time through a byte slice (a `memcpy`
//! call per element) and then copies the result once more to align it. On a 0.5 B-parameter
//! GGUF that was ~55% of the load time (docs/PERFORMANCE.md). [`PyTorchLayout`] is that
//! adapter with the transpose done on whole elements, by bands of rows, into storage of the
//! element's own type; everything else (the norms' `weight` → `gamma` renaming) is delegated
//! to burn-store's.

use burn::store::bridge;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleAdapter, ModuleContext, PyTorchToBurnAdapter};
use burn::tensor::{DType, Element, Shape, TensorData};
use bytemuck::Pod;

/// How burn-store names the `burn::nn::Linear` module in a container stack.
const LINEAR_MODULE: &str = "Struct:Linear";

/// Source rows the transpose reads per band (each output row gets this many contiguous
/// elements per pass).
const BAND_ROWS: usize = 32;

/// burn-store's PyTorch → burn adapter with a fast `Linear` weight transpose.
#[derive(Clone, Debug, Default)]
pub(crate) struct PyTorchLayout;

impl ModuleAdapter for PyTorchLayout {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        let linear_weight = ctx.module_type() == Some(LINEAR_MODULE)
            && tensor.name.rsplit('.').next() == Some("weight")
            && tensor.shape.len() == 2;
        if !linear_weight || !matches!(tensor.dtype, DType::F32 | DType::F16 | DType::BF16) {
            return PyTorchToBurnAdapter.adapt(tensor, ctx);
        }
        let (name, dtype) = (tensor.name.clone(), tensor.dtype);
        let transposed = Shape::new([tensor.shape[1], tensor.shape[0]]);
        bridge::map_data(tensor, name, dtype, transposed, move |data| match dtype {
            DType::F16 => transpose::<half::f16, 2>(&data),
            DType::BF16 => transpose::<half::bf16, 2>(&data),
            _ => transpose::<f32, 4>(&data),
        })
    }

    fn get_alternative_param_name(&self, param_name: &str, module_type: &str) -> Option<String> {
        PyTorchToBurnAdapter.get_alternative_param_name(param_name, module_type)
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// The transpose of a 2-D tensor whose elements are `T`, `BYTES` bytes each.
///
/// The source is read as `[u8; BYTES]` elements, so its bytes need no particular alignment;
/// the result is allocated as `T`, so burn can use it without another copy.
///
/// # Shapes
/// `[rows, cols]` -> `[cols, rows]`.
fn transpose<T: Element + Pod, const BYTES: usize>(data: &TensorData) -> TensorData {
    const { assert!(size_of::<T>() == BYTES) };
    let (rows, cols) = (data.shape()[0], data.shape()[1]);
    let source: &[[u8; BYTES]] = bytemuck::cast_slice(data.as_bytes());
    let mut values = vec![T::zeroed(); rows * cols];
    let target: &mut [[u8; BYTES]] = bytemuck::cast_slice_mut(&mut values);
    // A band of BAND_ROWS source rows (114 KiB of f32 for 896 columns) stays in cache while
    // every output row takes its BAND_ROWS contiguous elements from it.
    for row_start in (0..rows).step_by(BAND_ROWS) {
        let row_end = (row_start + BAND_ROWS).min(rows);
        let band = &source[row_start * cols..row_end * cols];
        for col in 0..cols {
            let out = &mut target[col * rows + row_start..col * rows + row_end];
            for (k, slot) in out.iter_mut().enumerate() {
                *slot = band[k * cols + col];
            }
        }
    }
    TensorData::new(values, [cols, rows])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-major `[rows, cols]` values 0, 1, 2, …
    fn counting(rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols).map(|i| i as f32).collect()
    }

    #[test]
    fn transposes_shapes_that_are_not_whole_bands() {
        for (rows, cols) in [(1, 1), (3, 70), (70, 3), (33, 65), (64, 32)] {
            let data = TensorData::new(counting(rows, cols), [rows, cols]);
            let transposed = transpose::<f32, 4>(&data);
            assert_eq!(transposed.shape().to_vec(), vec![cols, rows]);
            let values: Vec<f32> = transposed.try_to_vec().unwrap();
            for row in 0..rows {
                for col in 0..cols {
                    assert_eq!(values[col * rows + row], (row * cols + col) as f32);
                }
            }
        }
    }

    /// What burn-store's own adapter makes of `tensor` in `stack`, and what ours makes.
    fn both_adapters(tensor: TensorData, name: &str, stack: &[&str]) -> [(String, TensorData); 2] {
        let stack: Vec<String> = stack.iter().map(|s| s.to_string()).collect();
        let adapted = |adapter: &dyn ModuleAdapter| {
            let packed = bridge::from_data(tensor.clone(), name.into(), None);
            let out = adapter.adapt(packed, ModuleContext::new(&stack));
            (out.name.clone(), bridge::into_data(out).unwrap())
        };
        [adapted(&PyTorchToBurnAdapter), adapted(&PyTorchLayout)]
    }

    #[test]
    fn agrees_with_burn_stores_adapter() {
        let cases = [
            (
                "q_proj.weight",
                vec!["Struct:Attention", "Struct:Linear"],
                [6, 40],
            ),
            (
                "q_proj.bias",
                vec!["Struct:Attention", "Struct:Linear"],
                [1, 6],
            ),
            (
                "norm.weight",
                vec!["Struct:Layer", "Struct:RmsNorm"],
                [1, 40],
            ),
            ("embed.weight", vec!["Struct:Embedding"], [6, 40]),
        ];
        for (name, stack, shape) in cases {
            let data = TensorData::new(counting(shape[0], shape[1]), shape);
            let [(theirs_name, theirs), (ours_name, ours)] = both_adapters(data, name, &stack);
            assert_eq!(ours_name, theirs_name, "{name}");
            assert_eq!(ours.shape(), theirs.shape(), "{name}");
            assert_eq!(
                ours.try_to_vec::<f32>().unwrap(),
                theirs.try_to_vec::<f32>().unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn half_precision_values_move_unchanged() {
        let values: Vec<half::bf16> = counting(5, 7)
            .into_iter()
            .map(half::bf16::from_f32)
            .collect();
        let data = TensorData::new(values.clone(), [5, 7]);
        let transposed: Vec<half::bf16> = transpose::<half::bf16, 2>(&data).try_to_vec().unwrap();
        assert_eq!(transposed[3 * 5 + 2], values[2 * 7 + 3]);
        assert_eq!(transposed.len(), 35);
    }
}
