"""Recurrent cell kernels: one time step forward and backward, for SimpleRNN, LSTM and GRU.

Layout follows Keras: batch rows, gates side by side along the last axis. A step's input
projection ``x_t @ kernel + bias`` is computed for all timesteps by the layer (one matrix product
before the loop) and handed in as ``gates``; the step adds the recurrent product and applies the
gate arithmetic in place into buffers the layer preallocated for the whole sequence. Backward steps
write the pre-activation gradients ``dgates`` of the step (the layer turns them into the kernel,
bias and input gradients with matrix products after the loop) and return nothing: every result goes
into an ``out`` buffer.

Activations are :class:`dendrite.activations.Activation` objects whose derivative is a function of
their output (``needs == "y"``): sigmoid and tanh run in place without temporaries.

Notation: u = units; B = batch. Shapes are per step.
"""

from dendrite import jit_kernels
from dendrite.backend import get_array_module


def activate_(activation, z):
    """z <- activation(z) in place (z may be a strided view)."""
    xp = get_array_module(z)
    if activation.name == "sigmoid":
        # sigmoid(z) = (1 + tanh(z / 2)) / 2: in place and overflow-free
        z *= 0.5
        xp.tanh(z, out=z)
        z += 1
        z *= 0.5
    elif activation.name == "tanh":
        xp.tanh(z, out=z)
    else:
        z[...] = activation.forward(z)
    return z


def activation_backward_(activation, dy, y):
    """dy <- dy * activation'(z), written from the output y = activation(z), in place."""
    if activation.name == "sigmoid":
        dy *= y
        dy *= 1 - y  # s' = s (1 - s)
    elif activation.name == "tanh":
        dy *= 1 - y * y  # tanh' = 1 - tanh^2
    else:
        dy[...] = activation.backward(dy, None, y)
    return dy


# ---------------------------------------------------------------------------- SimpleRNN


def simple_rnn_step_forward(z, h_prev, recurrent_kernel, activation):
    """h_t = activation(x_t W + b + h_{t-1} R), in place.

    Args:
        z: (B, u) holding x_t W + b on entry, h_t on exit.
        h_prev: (B, u). recurrent_kernel: (u, u).
    """
    z += h_prev @ recurrent_kernel
    return activate_(activation, z)


def simple_rnn_step_backward(dh, h, recurrent_kernel_t, activation, dz, dh_prev):
    """dz = dh * activation'(h); dh_prev = dz R^T.

    Args:
        dh: (B, u) d(loss)/d(h_t) (all paths). h: (B, u) the step's output.
        recurrent_kernel_t: (u, u), the transposed recurrent kernel (contiguous).
        dz: (B, u) out: pre-activation gradient. dh_prev: (B, u) out.
    """
    dz[...] = dh
    activation_backward_(activation, dz, h)
    get_array_module(dz).matmul(dz, recurrent_kernel_t, out=dh_prev)


# ---------------------------------------------------------------------------- LSTM


def lstm_fast_path(activation, recurrent_activation):
    """Whether the LSTM kernels may use their fused form (tanh activation, sigmoid gates): the
    layer then hands them the sigmoid gates' columns pre-scaled by 1/2, so one tanh over all four
    gates does the work, since sigmoid(z) = (1 + tanh(z / 2)) / 2."""
    return activation.name == "tanh" and recurrent_activation.name == "sigmoid"


def lstm_step_forward(gates, h_prev, c_prev, recurrent_kernel, c, tanh_c, h, activation,
                      recurrent_activation, scratch):
    """One LSTM step; the kernels keep the gates in the order i, f, o, g (the sigmoid gates side by
    side; the layer converts from and to Keras's i, f, c, o):

        z = x_t W + b + h_{t-1} R;  i, f, o = rec_act(z_i, z_f, z_o);  g = act(z_g)
        c_t = f * c_{t-1} + i * g;   h_t = o * act(c_t)

    On the fast path (:func:`lstm_fast_path`) the i, f, o columns of W, b and R come in halved.

    Args:
        gates: (B, 4u) holding x_t W + b on entry; the activated [i, f, o, g] on exit.
        h_prev, c_prev: (B, u). recurrent_kernel: (u, 4u), internal order.
        c, tanh_c, h: (B, u) out: c_t, act(c_t), h_t. scratch: (B, 4u) work space.
    """
    xp = get_array_module(gates)
    u = c.shape[1]
    xp.matmul(h_prev, recurrent_kernel, out=scratch)
    gates += scratch
    sigmoid_gates = gates[:, :3 * u]
    if lstm_fast_path(activation, recurrent_activation):
        xp.tanh(gates, out=gates)
        sigmoid_gates *= 0.5
        sigmoid_gates += 0.5
    else:
        activate_(recurrent_activation, sigmoid_gates)
        activate_(activation, gates[:, 3 * u:])
    i, f, o, g = gates[:, :u], gates[:, u:2 * u], gates[:, 2 * u:3 * u], gates[:, 3 * u:]
    xp.multiply(f, c_prev, out=c)
    xp.multiply(i, g, out=tanh_c)
    c += tanh_c
    if activation.name == "tanh":
        xp.tanh(c, out=tanh_c)
    else:
        tanh_c[...] = c
        activate_(activation, tanh_c)
    xp.multiply(o, tanh_c, out=h)


def lstm_step_backward(dh, dc, gates, c_prev, tanh_c, recurrent_kernel_t, dgates, dh_prev,
                       activation, recurrent_activation):
    """Backward of :func:`lstm_step_forward` (gates in the order i, f, o, g):

        dc_t += dh * o * act'(c_t);  do = dh * act(c_t)
        di = dc_t * g;  df = dc_t * c_{t-1};  dg = dc_t * i;  dc_{t-1} = dc_t * f
        dz = [di, df, do, dg] * (gate derivatives);  dh_{t-1} = dz R^T

    dz is the gradient with respect to the true pre-activations (whatever scaling the fast path
    used), so the layer's weight gradients follow from it directly.

    Args:
        dh: (B, u) d(loss)/d(h_t) (all paths).
        dc: (B, u) d(loss)/d(c_t) from step t+1 on entry; d(loss)/d(c_{t-1}) on exit.
        gates: (B, 4u) the step's activated gates. c_prev, tanh_c: (B, u).
        recurrent_kernel_t: (4u, u), the transposed recurrent kernel in the internal order.
        dgates: (B, 4u) out: d(loss)/dz. dh_prev: (B, u) out.
    """
    xp = get_array_module(dh)
    u = dh.shape[1]
    if lstm_fast_path(activation, recurrent_activation) and jit_kernels.usable(
            dh, dc, gates, c_prev, tanh_c, dgates):
        jit_kernels.kernels().lstm_gates_backward(dh, dc, gates, c_prev, tanh_c, dgates)
        xp.matmul(dgates, recurrent_kernel_t, out=dh_prev)
        return
    i, f, o, g = gates[:, :u], gates[:, u:2 * u], gates[:, 2 * u:3 * u], gates[:, 3 * u:]
    di, df, do, dg = (dgates[:, :u], dgates[:, u:2 * u], dgates[:, 2 * u:3 * u],
                      dgates[:, 3 * u:])
    xp.multiply(dh, o, out=dg)
    activation_backward_(activation, dg, tanh_c)
    dc += dg
    xp.multiply(dc, g, out=di)
    xp.multiply(dc, c_prev, out=df)
    xp.multiply(dh, tanh_c, out=do)
    activation_backward_(recurrent_activation, dgates[:, :3 * u], gates[:, :3 * u])
    xp.multiply(dc, i, out=dg)
    activation_backward_(activation, dg, g)
    dc *= f
    xp.matmul(dgates, recurrent_kernel_t, out=dh_prev)


# ---------------------------------------------------------------------------- GRU


def gru_step_forward(gates, recurrent, h_prev, recurrent_kernel, recurrent_bias, h, activation,
                     recurrent_activation, reset_after=True):
    """One GRU step with Keras's gate order z, r, h:

        z = sigma(x_z + h_{t-1} R_z);  r = sigma(x_r + h_{t-1} R_r)
        reset_after=True:   hh = act(x_h + r * (h_{t-1} R_h + b_rh))   (PyTorch's formulation)
        reset_after=False:  hh = act(x_h + (r * h_{t-1}) R_h)
        h_t = z * h_{t-1} + (1 - z) * hh

    where x_* = x_t W_* + b_* (already in ``gates``) and, with reset_after, the z and r recurrent
    products also get the recurrent bias.

    Args:
        gates: (B, 3u) x_t W + b on entry; the activated [z, r, hh] on exit.
        recurrent: (B, 3u) out. reset_after: h_{t-1} R + b_r (its h part is needed by backward).
            Otherwise: [h_{t-1} R_z, h_{t-1} R_r, r * h_{t-1}] (the last part for backward).
        h_prev: (B, u). recurrent_kernel: (u, 3u). recurrent_bias: (3u,) or None.
        h: (B, u) out.
    """
    xp = get_array_module(gates)
    u = h.shape[1]
    if reset_after:
        xp.matmul(h_prev, recurrent_kernel, out=recurrent)
        if recurrent_bias is not None:
            recurrent += recurrent_bias
        gates[:, :2 * u] += recurrent[:, :2 * u]
        activate_(recurrent_activation, gates[:, :2 * u])
        candidate = gates[:, 2 * u:]
        candidate += gates[:, u:2 * u] * recurrent[:, 2 * u:]
    else:
        xp.matmul(h_prev, recurrent_kernel[:, :2 * u], out=recurrent[:, :2 * u])
        gates[:, :2 * u] += recurrent[:, :2 * u]
        activate_(recurrent_activation, gates[:, :2 * u])
        reset_h = recurrent[:, 2 * u:]
        xp.multiply(gates[:, u:2 * u], h_prev, out=reset_h)
        candidate = gates[:, 2 * u:]
        candidate += reset_h @ recurrent_kernel[:, 2 * u:]
    activate_(activation, candidate)
    z = gates[:, :u]
    # h = hh + z * (h_prev - hh)
    xp.subtract(h_prev, candidate, out=h)
    h *= z
    h += candidate


def gru_step_backward(dh, gates, recurrent, h_prev, recurrent_kernel_t, dgates, drecurrent,
                      dh_prev, activation, recurrent_activation, reset_after=True):
    """Backward of :func:`gru_step_forward`.

        dhh = dh * (1 - z);  dz = dh * (h_{t-1} - hh);  dh_{t-1} = dh * z + (recurrent paths)
        da_h = dhh * act'(hh)
        reset_after:  dr = da_h * (h_{t-1} R_h + b_rh);  d(recurrent h part) = da_h * r
        otherwise:    d(r h) = da_h R_h^T;  dr = d(r h) * h_{t-1};  dh_{t-1} += d(r h) * r

    Args:
        dh: (B, u) d(loss)/d(h_t) (all paths).
        gates, recurrent: the step's buffers from :func:`gru_step_forward`.
        recurrent_kernel_t: (3u, u), the transposed recurrent kernel (contiguous).
        dgates: (B, 3u) out: d(loss)/d(x_t W + b).
        drecurrent: (B, 3u) out, reset_after only: d(loss)/d(h_{t-1} R + b_r); None otherwise.
        dh_prev: (B, u) out.
    """
    xp = get_array_module(dh)
    u = dh.shape[1]
    z, r, candidate = gates[:, :u], gates[:, u:2 * u], gates[:, 2 * u:]
    dz, dr, da_h = dgates[:, :u], dgates[:, u:2 * u], dgates[:, 2 * u:]
    xp.subtract(1, z, out=da_h)
    da_h *= dh
    activation_backward_(activation, da_h, candidate)
    xp.subtract(h_prev, candidate, out=dz)
    dz *= dh
    if reset_after:
        xp.multiply(da_h, recurrent[:, 2 * u:], out=dr)
        # the z and r gate derivatives in one pass over their adjacent columns
        activation_backward_(recurrent_activation, dgates[:, :2 * u], gates[:, :2 * u])
        drecurrent[:, :2 * u] = dgates[:, :2 * u]
        xp.multiply(da_h, r, out=drecurrent[:, 2 * u:])
        xp.matmul(drecurrent, recurrent_kernel_t, out=dh_prev)
    else:
        d_reset_h = da_h @ recurrent_kernel_t[2 * u:]
        xp.multiply(d_reset_h, h_prev, out=dr)
        activation_backward_(recurrent_activation, dgates[:, :2 * u], gates[:, :2 * u])
        xp.matmul(dgates[:, :2 * u], recurrent_kernel_t[:2 * u], out=dh_prev)
        d_reset_h *= r
        dh_prev += d_reset_h
    # direct path h_t = z * h_{t-1} + ...
    dh_prev += dh * z
