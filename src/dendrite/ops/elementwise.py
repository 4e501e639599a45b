"""Element-wise ops with NumPy broadcasting: arithmetic, comparisons, and one-argument functions.

Every binary op's backward sums its gradient over the axes its argument was broadcast along
(:func:`~dendrite.ops.operation.unbroadcast`), so ``x + bias`` with x (batch, n) and bias (n,)
gives the bias a gradient of shape (n,).
"""

from dendrite.backend import get_array_module
from dendrite.ops.operation import Operation, apply, broadcast_shapes, unbroadcast

__all__ = ["abs", "absolute", "add", "clip", "cos", "divide", "equal", "exp", "greater",
           "greater_equal", "less", "less_equal", "log", "log1p", "maximum", "minimum", "multiply",
           "negative", "not_equal", "power", "sign", "sin", "sqrt", "square", "subtract",
           "true_divide", "where"]


def _xp(*args):
    return get_array_module(next(a for a in args if hasattr(a, "shape")))


def _shape(value):
    return tuple(getattr(value, "shape", ()))


class Binary(Operation):
    """Base of the broadcasting two-argument ops: caches both arguments."""

    cache_attributes = ("_x", "_y")

    def output_shape(self, x_shape, y_shape):
        try:
            return broadcast_shapes(x_shape, y_shape)
        except ValueError as error:
            raise ValueError(f"{type(self).__name__}(name={self.name!r}): {error}") from None

    def compute(self, x, y):
        self._x, self._y = x, y
        return self.function(x, y)

    def gradients(self, dy):
        x, y = self._x, self._y
        dx = unbroadcast(self.x_gradient(dy, x, y), _shape(x)) if self.needs(0) else None
        dy_ = unbroadcast(self.y_gradient(dy, x, y), _shape(y)) if self.needs(1) else None
        return dx, dy_


class Add(Binary):
    """x + y."""

    cache_attributes = ("_x", "_y")

    def function(self, x, y):
        return x + y

    def x_gradient(self, dy, x, y):
        return dy

    def y_gradient(self, dy, x, y):
        return dy


class Subtract(Binary):
    """x - y."""

    def function(self, x, y):
        return x - y

    def x_gradient(self, dy, x, y):
        return dy

    def y_gradient(self, dy, x, y):
        return -dy


class Multiply(Binary):
    """x * y."""

    def function(self, x, y):
        return x * y

    def x_gradient(self, dy, x, y):
        return dy * y

    def y_gradient(self, dy, x, y):
        return dy * x


class Divide(Binary):
    """x / y."""

    def function(self, x, y):
        return x / y

    def x_gradient(self, dy, x, y):
        return dy / y

    def y_gradient(self, dy, x, y):
        return -dy * x / (y * y)  # d(x/y)/dy = -x / y^2


class Power(Binary):
    """x ** y (for a tensor exponent, x must be positive: d/dy = x^y log x)."""

    def function(self, x, y):
        return x ** y

    def x_gradient(self, dy, x, y):
        return dy * y * x ** (y - 1)

    def y_gradient(self, dy, x, y):
        return dy * x ** y * _xp(x, y).log(x)


class Maximum(Binary):
    """max(x, y) element-wise; a tie sends the gradient to x (Keras's and NumPy's convention of
    picking the first)."""

    def function(self, x, y):
        return _xp(x, y).maximum(x, y)

    def x_gradient(self, dy, x, y):
        return dy * (x >= y)

    def y_gradient(self, dy, x, y):
        return dy * (x < y)


class Minimum(Binary):
    """min(x, y) element-wise; a tie sends the gradient to x."""

    def function(self, x, y):
        return _xp(x, y).minimum(x, y)

    def x_gradient(self, dy, x, y):
        return dy * (x <= y)

    def y_gradient(self, dy, x, y):
        return dy * (x > y)


class Comparison(Binary):
    """Base of the comparisons: a boolean output with no gradient."""

    differentiable = False
    cache_attributes = ()

    def compute(self, x, y):
        return self.function(x, y)

    def output_dtype(self, dtypes):
        return "bool"


class Greater(Comparison):
    def function(self, x, y):
        return x > y


class GreaterEqual(Comparison):
    def function(self, x, y):
        return x >= y


class Less(Comparison):
    def function(self, x, y):
        return x < y


class LessEqual(Comparison):
    def function(self, x, y):
        return x <= y


class Equal(Comparison):
    def function(self, x, y):
        return x == y


class NotEqual(Comparison):
    def function(self, x, y):
        return x != y


class Unary(Operation):
    """Base of one-argument element-wise ops: ``function(xp, x)`` and ``derivative(x, y)`` = dy/dx
    (``y`` the output), so that backward is dy * derivative."""

    cache_attributes = ("_x", "_y")

    def output_shape(self, shape):
        return shape

    def compute(self, x):
        xp = get_array_module(x)
        self._x = x
        self._y = self.function(xp, x)
        return self._y

    def gradients(self, dy):
        return (dy * self.derivative(self._x, self._y),)


class Negative(Unary):
    """-x."""

    def function(self, xp, x):
        return -x

    def derivative(self, x, y):
        return -1.0


class Abs(Unary):
    """|x|; derivative sign(x) (0 at 0)."""

    def function(self, xp, x):
        return xp.abs(x)

    def derivative(self, x, y):
        return get_array_module(x).sign(x)


class Square(Unary):
    """x ** 2."""

    def function(self, xp, x):
        return x * x

    def derivative(self, x, y):
        return 2 * x


class Sqrt(Unary):
    """sqrt(x); derivative 1 / (2 sqrt(x))."""

    def function(self, xp, x):
        return xp.sqrt(x)

    def derivative(self, x, y):
        return 0.5 / y


class Exp(Unary):
    """exp(x); derivative exp(x) = y."""

    def function(self, xp, x):
        return xp.exp(x)

    def derivative(self, x, y):
        return y


class Log(Unary):
    """Natural log; derivative 1 / x."""

    def function(self, xp, x):
        return xp.log(x)

    def derivative(self, x, y):
        return 1 / x


class Log1p(Unary):
    """log(1 + x); derivative 1 / (1 + x)."""

    def function(self, xp, x):
        return xp.log1p(x)

    def derivative(self, x, y):
        return 1 / (1 + x)


class Sin(Unary):
    def function(self, xp, x):
        return xp.sin(x)

    def derivative(self, x, y):
        return get_array_module(x).cos(x)


class Cos(Unary):
    def function(self, xp, x):
        return xp.cos(x)

    def derivative(self, x, y):
        return -get_array_module(x).sin(x)


class Sign(Unary):
    """sign(x): piecewise constant, no gradient."""

    differentiable = False
    cache_attributes = ()

    def compute(self, x):
        return get_array_module(x).sign(x)


class Clip(Operation):
    """x clipped to [x_min, x_max]; the gradient passes where x is inside (bounds included)."""

    cache_attributes = ("_inside",)

    def output_shape(self, shape, min_shape, max_shape):
        return broadcast_shapes(shape, min_shape, max_shape)

    def compute(self, x, x_min, x_max):
        xp = _xp(x, x_min, x_max)
        self._shape = _shape(x)
        self._inside = (x >= x_min) & (x <= x_max)
        return xp.clip(x, x_min, x_max)

    def gradients(self, dy):
        if any(self.needs(i) for i in (1, 2)):
            raise ValueError(f"{type(self).__name__}(name={self.name!r}): the bounds of clip must "
                             "be constants to differentiate it")
        return unbroadcast(dy * self._inside, self._shape), None, None


class Where(Operation):
    """``x1`` where ``condition`` else ``x2``; the condition gets no gradient."""

    cache_attributes = ("_condition", "_shapes")

    def output_shape(self, condition, x1, x2):
        return broadcast_shapes(condition, x1, x2)

    def compute(self, condition, x1, x2):
        xp = _xp(condition, x1, x2)
        self._condition = xp.asarray(condition, dtype=bool)
        self._shapes = (_shape(x1), _shape(x2))
        return xp.where(condition, x1, x2)

    def output_dtype(self, dtypes):
        return super().output_dtype(dtypes[1:])

    def gradients(self, dy):
        keep = self._condition
        dx1 = unbroadcast(dy * keep, self._shapes[0]) if self.needs(1) else None
        dx2 = unbroadcast(dy * ~keep, self._shapes[1]) if self.needs(2) else None
        return None, dx1, dx2


def add(x1, x2):
    """x1 + x2 with broadcasting."""
    return apply(Add, (x1, x2))


def subtract(x1, x2):
    """x1 - x2 with broadcasting."""
    return apply(Subtract, (x1, x2))


def multiply(x1, x2):
    """x1 * x2 with broadcasting."""
    return apply(Multiply, (x1, x2))


def divide(x1, x2):
    """x1 / x2 with broadcasting."""
    return apply(Divide, (x1, x2))


true_divide = divide


def power(x1, x2):
    """x1 ** x2 with broadcasting."""
    return apply(Power, (x1, x2))


def maximum(x1, x2):
    """Element-wise maximum with broadcasting."""
    return apply(Maximum, (x1, x2))


def minimum(x1, x2):
    """Element-wise minimum with broadcasting."""
    return apply(Minimum, (x1, x2))


def greater(x1, x2):
    return apply(Greater, (x1, x2))


def greater_equal(x1, x2):
    return apply(GreaterEqual, (x1, x2))


def less(x1, x2):
    return apply(Less, (x1, x2))


def less_equal(x1, x2):
    return apply(LessEqual, (x1, x2))


def equal(x1, x2):
    return apply(Equal, (x1, x2))


def not_equal(x1, x2):
    return apply(NotEqual, (x1, x2))


def negative(x):
    return apply(Negative, (x,))


def abs(x):
    return apply(Abs, (x,))


absolute = abs


def square(x):
    return apply(Square, (x,))


def sqrt(x):
    return apply(Sqrt, (x,))


def exp(x):
    return apply(Exp, (x,))


def log(x):
    return apply(Log, (x,))


def log1p(x):
    return apply(Log1p, (x,))


def sin(x):
    return apply(Sin, (x,))


def cos(x):
    return apply(Cos, (x,))


def sign(x):
    return apply(Sign, (x,))


def clip(x, x_min, x_max):
    """x limited to [x_min, x_max] (constant bounds)."""
    return apply(Clip, (x, x_min, x_max))


def where(condition, x1, x2):
    """Elements of x1 where condition holds, else of x2 (broadcast together)."""
    return apply(Where, (condition, x1, x2))
