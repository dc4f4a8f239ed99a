import torch

from streamfit.models.layers import SparseLinear, sparse_dropout

NUM_FEATURES = 40


def sparse_batch(n, generator, nnz_per_row=5):
    dense = torch.zeros(n, NUM_FEATURES)
    for r in range(n):
        cols = torch.randperm(NUM_FEATURES, generator=generator)[:nnz_per_row]
        dense[r, cols] = torch.rand(nnz_per_row, generator=generator)
    return dense.to_sparse_csr(), dense


def test_sparse_linear_is_a_dense_layer_over_the_sparse_rows():
    layer = SparseLinear(NUM_FEATURES, 7)
    sparse, dense = sparse_batch(6, torch.Generator().manual_seed(3))
    sparse = torch.cat([sparse.to_dense(), torch.zeros(1, NUM_FEATURES)]).to_sparse_csr()
    expected = torch.cat([dense, torch.zeros(1, NUM_FEATURES)]) @ layer.bag.weight + layer.bias
    assert torch.allclose(layer(sparse), expected, atol=1e-6)
    assert torch.allclose(layer(sparse.to_dense()), expected, atol=1e-6)
    # int32 indices (scipy's default) work as well.
    int32 = torch.sparse_csr_tensor(sparse.crow_indices().int(), sparse.col_indices().int(),
                                    sparse.values(), size=sparse.shape,
                                    check_invariants=True)
    assert torch.allclose(layer(int32), expected, atol=1e-6)


def test_sparse_dropout_drops_values_and_scales_the_rest():
    torch.manual_seed(0)
    x = torch.ones(50, 40).to_sparse_csr()
    dropped = sparse_dropout(x, 0.5, training=True).values()
    assert set(dropped.unique().tolist()) == {0.0, 2.0}
    assert sparse_dropout(x, 0.5, training=False) is x


def test_sparse_linear_on_a_batch_of_empty_rows_gives_the_bias():
    layer = SparseLinear(NUM_FEATURES, 3)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
    out = layer(torch.zeros(2, NUM_FEATURES).to_sparse_csr())
    assert out.tolist() == [[1.0, 2.0, 3.0]] * 2


def _gradients(layer, x, upstream):
    layer.zero_grad()
    (layer(x) * upstream).sum().backward()
    return layer.bag.weight.grad.clone(), layer.bias.grad.clone()


def test_sparse_linear_weight_gradient_is_x_transposed_times_the_upstream_gradient():
    generator = torch.Generator().manual_seed(5)
    sparse, dense = sparse_batch(9, generator, nnz_per_row=7)
    upstream = torch.randn(9, 4, generator=generator)
    for dtype in (torch.float32, torch.float64):
        layer = SparseLinear(NUM_FEATURES, 4).to(dtype)
        x = torch.sparse_csr_tensor(sparse.crow_indices(), sparse.col_indices(),
                                    sparse.values().to(dtype), size=sparse.shape,
                                    check_invariants=True)
        weight_grad, bias_grad = _gradients(layer, x, upstream.to(dtype))
        assert weight_grad.dtype == dtype
        assert torch.allclose(weight_grad, dense.to(dtype).T @ upstream.to(dtype), atol=1e-6)
        assert torch.allclose(bias_grad, upstream.to(dtype).sum(0), atol=1e-6)
        # The same as torch's own EmbeddingBag backward (the path sparse inputs with
        # gradients, other devices and dtypes take).
        reference = torch.nn.functional.embedding_bag(
            x.col_indices(), layer.bag.weight, x.crow_indices(), mode="sum",
            per_sample_weights=x.values(), include_last_offset=True)
        layer.zero_grad()
        (reference * upstream.to(dtype)).sum().backward()
        assert torch.allclose(weight_grad, layer.bag.weight.grad, atol=1e-6)


def test_sparse_linear_gradient_flows_to_values_that_require_it():
    sparse, dense = sparse_batch(3, torch.Generator().manual_seed(6))
    layer = SparseLinear(NUM_FEATURES, 2)
    values = sparse.values().clone().requires_grad_(True)
    x = torch.sparse_csr_tensor(sparse.crow_indices(), sparse.col_indices(), values, size=sparse.shape,
                                check_invariants=True)
    layer(x).sum().backward()
    # d(sum(x @ W))/d x[r, c] = sum_j W[c, j] at each stored (r, c).
    expected = layer.bag.weight.sum(1)[sparse.col_indices()]
    assert torch.allclose(values.grad, expected.detach(), atol=1e-6)
    assert layer.bag.weight.grad is not None


def test_sparse_linear_with_sparse_gradients_touches_only_the_batch_rows():
    sparse, dense = sparse_batch(4, torch.Generator().manual_seed(7))
    layer = SparseLinear(NUM_FEATURES, 3, sparse_grad=True)
    layer(sparse).sum().backward()
    grad = layer.bag.weight.grad
    assert grad.is_sparse
    assert torch.allclose(grad.to_dense(), dense.T @ torch.ones(4, 3), atol=1e-6)
