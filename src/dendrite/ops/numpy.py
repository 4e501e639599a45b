"""``dendrite.ops.numpy``: the NumPy-named ops, as ``keras.ops.numpy`` has them."""

from dendrite.ops.core import *
from dendrite.ops.elementwise import *
from dendrite.ops.linalg import *
from dendrite.ops.reduction import *
from dendrite.ops.reshaping import *
