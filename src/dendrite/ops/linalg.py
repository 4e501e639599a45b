"""Matrix products: ``matmul`` (NumPy's rules, batched over leading axes) and ``dot``."""

from dendrite.backend import host
from dendrite.ops.operation import Operation, apply, broadcast_shapes, unbroadcast

__all__ = ["dot", "matmul"]


def _swap(a):
    return a.swapaxes(-1, -2)


class Matmul(Operation):
    """x1 @ x2 with NumPy's ``matmul`` rules: 1-D arguments are promoted (then the added axis
    removed), leading axes broadcast. dX1 = dY @ X2^T, dX2 = X1^T @ dY, each summed over the
    leading axes its argument was broadcast along."""

    cache_attributes = ("_x1", "_x2")

    def output_shape(self, a, b):
        if not a or not b:
            raise ValueError(f"{type(self).__name__}(name={self.name!r}): matmul needs arguments "
                             f"with at least one axis; got shapes {a} and {b}")
        a2 = (1, *a) if len(a) == 1 else a
        b2 = (*b, 1) if len(b) == 1 else b
        if a2[-1] is not None and b2[-2] is not None and a2[-1] != b2[-2]:
            raise ValueError(f"{type(self).__name__}(name={self.name!r}): the last axis of x1 and "
                             f"the second-to-last of x2 must match; got shapes {a} and {b}")
        shape = (*broadcast_shapes(a2[:-2], b2[:-2]), a2[-2], b2[-1])
        if len(a) == 1:
            shape = shape[:-2] + shape[-1:]
        if len(b) == 1:
            shape = shape[:-1]
        return shape

    def compute(self, x1, x2):
        self._x1, self._x2 = x1, x2
        return x1 @ x2

    def gradients(self, dy):
        x1, x2 = self._x1, self._x2
        a = x1[None, :] if x1.ndim == 1 else x1
        b = x2[:, None] if x2.ndim == 1 else x2
        leading = host.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        dy = dy.reshape(*leading, a.shape[-2], b.shape[-1])  # restore axes a 1-D argument lost
        dx1 = dx2 = None
        if self.needs(0):
            dx1 = unbroadcast(dy @ _swap(b), a.shape).reshape(x1.shape)  # dX1 = dY X2^T
        if self.needs(1):
            dx2 = unbroadcast(_swap(a) @ dy, b.shape).reshape(x2.shape)  # dX2 = X1^T dY
        return dx1, dx2


def matmul(x1, x2):
    """Matrix product x1 @ x2 (NumPy's ``matmul``)."""
    return apply(Matmul, (x1, x2))


def dot(x1, x2):
    """NumPy's ``dot`` for arguments of at most two axes (then equal to ``matmul``); a scalar
    argument multiplies."""
    from dendrite.ops.elementwise import multiply

    ndims = [len(getattr(x, "shape", ())) for x in (x1, x2)]
    if 0 in ndims:
        return multiply(x1, x2)
    if max(ndims) > 2 and min(ndims) > 1:
        raise ValueError(f"dot: arguments with more than two axes are not supported (use matmul "
                         f"or tensordot); got shapes {tuple(x1.shape)} and {tuple(x2.shape)}")
    return matmul(x1, x2)
