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
