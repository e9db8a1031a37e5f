"""Realistic answers to the micrograd assignment, at least 25 per exercise: right ones written the ways learners
write them, and the mistakes the lecture is about, each with the verdict autograd in float64 gives it.

Each entry is (exercise, answer, score, {check: expected}), where the checks named are exactly the ones that
fail and `expected` is a fragment of the check's hint (or, where it has none, its message), "follows" (right
given the student's own upstream gradients: it only inherits an earlier mistake), "hidden" (right at the values
the student sees, wrong at others) or None (no hint: nothing more can be said of it than that it is wrong).
"""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "micrograd" / "micrograd.ipynb"


def solution_cell(grade_id: str) -> str:
    nb = json.loads(SOLUTION.read_text())
    (cell,) = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id]
    return re.sub(r"(?m)^ *### (BEGIN|END) SOLUTION\n", "", "".join(cell["source"]))


def replaced(source: str, **replacements) -> str:
    """`source` with some of its lines replaced: {old line (stripped): new line(s), at its indentation}."""
    lines = []
    for line in source.splitlines():
        stripped, indent = line.strip(), line[: len(line) - len(line.lstrip())]
        if stripped in replacements:
            lines += [indent + new for new in replacements.pop(stripped).split("\n")]
        else:
            lines.append(line)
    assert not replacements, f"not in the source: {list(replacements)}"
    return "\n".join(lines) + "\n"


def value_class(**replacements) -> str:
    return replaced(solution_cell("ex4"), **replacements)


def with_backward(body: str) -> str:
    """The solution's Value class with another backward() (and whatever else `body` defines after it)."""
    return solution_cell("ex4").split("    def backward(self):")[0] + body


def softmax_class(**replacements) -> str:
    """The solution's Exercise 6 class (the exercise notebook's starter and its ops) with some lines replaced."""
    return replaced(solution_cell("ex6"), **replacements)


def softmax_ops(ops: str) -> str:
    """The starter class with `ops` (methods at the class's indentation) in place of the solution's."""
    source = solution_cell("ex6")
    start, end = source.index("    def __radd__"), source.index("    def backward")
    return source[:start] + ops.strip("\n") + "\n\n" + source[end:]


# The ops as Colab learners write them: two spaces, division its own node, pow labelled 'pow'.
COLAB_OPS = """
    def __radd__(self, other):
        return self + other

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), '*')
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data / other.data, (self, other), '/')
        def _backward():
            self.grad += (1 / other.data) * out.grad
            other.grad += (-self.data / other.data**2) * out.grad
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __pow__(self, k):
        out = Value(self.data**k, (self,), 'pow')
        def _backward():
            self.grad += k * self.data**(k - 1) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(exp(self.data), (self,), 'exp')
        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def log(self):
        out = Value(log(self.data), (self,), 'log')
        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out
"""


def colab_ops(old: str, new: str) -> str:
    assert old in COLAB_OPS, old
    return softmax_ops(COLAB_OPS.replace(old, new))


def training_loop(old: str, new: str) -> str:
    source = solution_cell("ex5")
    assert old in source, old
    return source.replace(old, new)


EX1_RIGHT = "dL = 1.0\ndf = d\ndd = f\nde = dd\ndc = dd\nda = b * de\ndb = a * de\n"
EX1_CHAIN = solution_cell("ex1")
EX2_RIGHT = ("do = 1.0\ndn = do * (1 - o**2)\ndb = dn\ndx1w1x2w2 = dn\ndx1w1 = dn\ndx2w2 = dn\n"
             "dx1 = w1 * dx1w1\ndw1 = x1 * dx1w1\ndx2 = w2 * dx2w2\ndw2 = x2 * dx2w2\n")
EX3_SOLUTION = solution_cell("ex3")
GRADF = "return [-3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**1.5, 1/c**2]"
NUMERICAL = ("numerical_grad = [(f(2 + h, 3, 4) - f(2, 3, 4)) / h,\n"
             "                  (f(2, 3 + h, 4) - f(2, 3, 4)) / h,\n"
             "                  (f(2, 3, 4 + h) - f(2, 3, 4)) / h]")
NUMERICAL2 = ("numerical_grad2 = [(f(2 + h, 3, 4) - f(2 - h, 3, 4)) / (2*h),\n"
              "                   (f(2, 3 + h, 4) - f(2, 3 - h, 4)) / (2*h),\n"
              "                   (f(2, 3, 4 + h) - f(2, 3, 4 - h)) / (2*h)]")
ZERO_GRAD = "  for p in n.parameters():\n    p.grad = 0.0\n"
EVERY_EX1 = "d f e c a b".split()  # every node below L
BELOW_N = "b x1w1x2w2 x1w1 x2w2 x1 w1 x2 w2".split()  # every node below n


def gradf(new: str) -> str:
    return EX3_SOLUTION.replace(GRADF, new)


def numerical(new: str) -> str:
    assert NUMERICAL in EX3_SOLUTION
    return EX3_SOLUTION.replace(NUMERICAL, new)


def numerical2(new: str) -> str:
    assert NUMERICAL2 in EX3_SOLUTION
    return EX3_SOLUTION.replace(NUMERICAL2, new)


def follows(*names: str) -> dict:
    return dict.fromkeys(names, "follows")


CORPUS = [
    # ---------------------------------------------------------------- Exercise 1: L = d*f, d = e + c, e = a*b
    ("ex1", EX1_RIGHT, 7, {}),
    ("ex1", "dL = 1.0\ndd = -2.0\ndf = 4.0\nde = -2.0\ndc = -2.0\nda = 6.0\ndb = -4.0\n", 1,
     {n: f"d{n} is a number typed for these values" for n in EVERY_EX1}),
    ("ex1", EX1_RIGHT.replace("da = b * de", "da = b").replace("db = a * de", "db = a"), 5,
     {"a": "upstream factor is missing", "b": "upstream factor is missing"}),
    ("ex1", EX1_RIGHT.replace("dd = f", "dd = -f"), 2, {"d": "sign is flipped", **follows("e", "c", "a", "b")}),
    ("ex1", EX1_RIGHT.replace("da = b * de", "da = a * de"), 6, {"a": "a's own value"}),
    # right, written as the lecture does, chain rule spelled out
    ("ex1", EX1_CHAIN, 7, {}),
    # right, every gradient as an expression of the inputs
    ("ex1", "dL = 1.0\ndd = f\ndf = a*b + c\nde = f\ndc = f\nda = b*f\ndb = a*f\n", 7, {}),
    # right, in tuple assignments
    ("ex1", "dL = 1.0\ndd, df = f * dL, d * dL\nde = dc = dd\nda, db = b * de, a * de\n", 7, {}),
    # right, with a whole number for dL
    ("ex1", EX1_RIGHT.replace("dL = 1.0", "dL = 1"), 7, {}),
    # right, skipping e: de is dd
    ("ex1", EX1_RIGHT.replace("da = b * de", "da = b * dd").replace("db = a * de", "db = a * dd"), 7, {}),
    # right, df from L itself
    ("ex1", EX1_RIGHT.replace("df = d", "df = L / f"), 7, {}),
    # right, numpy's float64
    ("ex1", "import numpy as np\n" + EX1_RIGHT.replace("da = b * de", "da = np.float64(b) * de"), 7, {}),
    # dL never set: only L fails
    ("ex1", EX1_RIGHT.replace("dL = 1.0\n", ""), 6, {"L": "dL was not assigned"}),
    # dL left at 0.0, and everything multiplied by it
    ("ex1", EX1_CHAIN.replace("dL = 1.0", "dL = 0.0"), 0, {"L": "is 1.0", **follows(*EVERY_EX1)}),
    # dL used but never defined: the code stops at once
    ("ex1", EX1_CHAIN.replace("dL = 1.0\n", ""), 0, {n: "NameError" for n in ["L", *EVERY_EX1]}),
    # c taken for a constant
    ("ex1", EX1_RIGHT.replace("dc = dd", "dc = 0.0"), 6, {"c": "as if c did not change the output: it does, through d"}),
    # + differentiated as if it were *
    ("ex1", EX1_RIGHT.replace("de = dd", "de = c * dd"), 4, {"e": "d = e + c is a sum", **follows("a", "b")}),
    # the local derivative alone, without the upstream dd
    ("ex1", EX1_RIGHT.replace("de = dd", "de = 1.0"), 4, {"e": "upstream factor is missing", **follows("a", "b")}),
    ("ex1", EX1_RIGHT.replace("dc = dd", "dc = 1.0"), 6, {"c": "upstream factor is missing"}),
    # both factors' gradients swapped
    ("ex1", EX1_RIGHT.replace("da = b * de", "da = a * de").replace("db = a * de", "db = b * de"), 5,
     {"a": "a's own value", "b": "b's own value"}),
    # the wrong upstream: df where de is meant
    ("ex1", EX1_RIGHT.replace("da = b * de", "da = b * df"), 6, {"a": "times df: the upstream gradient is de"}),
    # dd used on the line before it is set: the code stops there, dL already set
    ("ex1", EX1_RIGHT.replace("df = d", "df = dd"), 1, {n: "NameError" for n in EVERY_EX1}),
    # a naming scheme of the student's own
    ("ex1", EX1_RIGHT.replace("dd = f", "dL_dd = f").replace("de = dd", "de = dL_dd").replace("dc = dd", "dc = dL_dd"),
     6, {"d": "you named it dL_dd"}),
    ("ex1", EX1_RIGHT.replace("dL = 1.0", "L_grad = 1.0"), 6, {"L": "you named it L_grad"}),
    # one gradient pasted from the printout, the rest computed from it
    ("ex1", EX1_RIGHT.replace("dd = f", "dd = -2.0"), 2, {"d": "dd is a number typed", **follows(*"e c a b".split())}),
    # every gradient worked out by hand, dd's sign slipped: the rest is right given dd; df is typed (hidden values)
    ("ex1", "dL = 1.0\ndd = 2.0\ndf = 4.0\nde = 2.0\ndc = 2.0\nda = -6.0\ndb = 4.0\n", 1,
     {"d": "sign is flipped", "f": "df is a number typed for these values", **follows("e", "c", "a", "b")}),
    # the student stopped before db
    ("ex1", EX1_RIGHT.replace("db = a * de\n", ""), 6, {"b": "db was not assigned"}),
    # the lecture's numerical check, where the exercise asks for the derivative: close, and no answer (de, dc,
    # da and db are what the chain rule makes of the student's own dd, to the last digits)
    ("ex1", "h = 1e-6\ndL = 1.0\ndd = ((d + h) * f - d * f) / h\ndf = (d * (f + h) - d * f) / h\n"
            "de = ((e + h + c) * f - (e + c) * f) / h\ndc = ((e + c + h) * f - (e + c) * f) / h\n"
            "da = (((a + h) * b + c) * f - (a * b + c) * f) / h\ndb = ((a * (b + h) + c) * f - (a * b + c) * f) / h\n",
     1, {"d": "as a numerical estimate is", "f": "as a numerical estimate is", **follows("e", "c", "a", "b")}),
    # ---------------------------------------------------------------- Exercise 2: o = tanh(x1*w1 + x2*w2 + b)
    ("ex2", EX2_RIGHT, 10, {}),
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * (1 - n**2)"), 1,
     {"n": "at its output", **follows(*BELOW_N)}),
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = (1 - o) * do"), 1,
     {"n": "not 1 - o", **follows(*BELOW_N)}),
    ("ex2", EX2_RIGHT.replace("dw2 = x2 * dx2w2", "dw2 = 0.0"), 9, {"w2": "dw2 is a number typed for these values"}),
    ("ex2", EX2_RIGHT.replace("dx2 = w2 * dx2w2", "dx2 = w2"), 9, {"x2": "upstream factor is missing"}),
    # right, as the lecture writes it
    ("ex2", solution_cell("ex2"), 10, {}),
    # right: tanh's derivative written other ways
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * (1 - math.tanh(n)**2)"), 10, {}),
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do / math.cosh(n)**2"), 10, {}),
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * 4 / (math.exp(n) + math.exp(-n))**2"), 10, {}),
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = (1 - o*o) * do"), 10, {}),
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "e2 = math.exp(2*n)\nt = (e2 - 1) / (e2 + 1)\ndn = do * (1 - t**2)"),
     10, {}),
    # right, straight from dn
    ("ex2", EX2_RIGHT.replace("w1 * dx1w1", "w1 * dn").replace("x1 * dx1w1", "x1 * dn")
     .replace("w2 * dx2w2", "w2 * dn").replace("x2 * dx2w2", "x2 * dn"), 10, {}),
    # the lecture's own number for dn, pasted: everything below it is computed from it
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = 0.5"), 1,
     {"n": "dn is a number typed for these values", **follows(*BELOW_N)}),
    # the sign of tanh's derivative flipped
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * (o**2 - 1)"), 1,
     {"n": "sign is flipped", **follows(*BELOW_N)}),
    # the square in the wrong place
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * (1 - o)**2"), 1,
     {"n": "not (1 - o)**2", **follows(*BELOW_N)}),
    # do never set, dn written without it
    ("ex2", EX2_RIGHT.replace("do = 1.0\n", "").replace("dn = do * (1 - o**2)", "dn = 1 - o**2"), 9,
     {"o": "do was not assigned"}),
    # do never set, and dn uses it: the code stops at once
    ("ex2", EX2_RIGHT.replace("do = 1.0\n", ""), 0, {n: "NameError" for n in ["o", "n", *BELOW_N]}),
    # tanh without math.: the code stops at dn, do already set
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * (1 - tanh(n)**2)"), 1,
     {n: "NameError" for n in ["n", *BELOW_N]}),
    # each product's factors swapped
    ("ex2", EX2_RIGHT.replace("dx2 = w2 * dx2w2", "dx2 = x2 * dx2w2").replace("dw2 = x2 * dx2w2", "dw2 = w2 * dx2w2"),
     8, {"x2": "x2's own value", "w2": "w2's own value"}),
    ("ex2", EX2_RIGHT.replace("dx1 = w1 * dx1w1", "dx1 = x1 * dx1w1").replace("dw1 = x1 * dx1w1", "dw1 = w1 * dx1w1"),
     8, {"x1": "x1's own value", "w1": "w1's own value"}),
    # the bias's local derivative alone, and the bias taken for a constant
    ("ex2", EX2_RIGHT.replace("db = dn", "db = 1.0"), 9, {"b": "upstream factor is missing"}),
    ("ex2", EX2_RIGHT.replace("db = dn", "db = 0.0"), 9, {"b": "as if b did not change the output: it does, through n"}),
    # a name of the student's own for the sum's gradient: the ones computed from it are right
    ("ex2", EX2_RIGHT.replace("dx1w1x2w2", "dx1w1_x2w2"), 9, {"x1w1x2w2": "did you mean dx1w1_x2w2?"}),
    # + differentiated as if it were *: the sum's gradient times b (the ones below it are computed from dn)
    ("ex2", EX2_RIGHT.replace("dx1w1x2w2 = dn", "dx1w1x2w2 = dn * b"), 9, {"x1w1x2w2": "is a sum"}),
    # 1 - tanh**2 over a common denominator, the denominator's square forgotten: a division, no estimate
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "ep, em = math.exp(n), math.exp(-n)\n"
                              "dn = do * ((ep + em)**2 - (ep - em)**2) / (ep + em)"), 1, {"n": None, **follows(*BELOW_N)}),
    # dn typed in from the printout, rounded: wrong in its 7th digit, and everything below follows
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = 0.4999999"), 1,
     {"n": "dn is a number typed for these values, and rounded", **follows(*BELOW_N)}),
    # tanh's derivative by a one-sided difference with a large step: far from autograd's, still an estimate
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * (math.tanh(n + 1e-3) - math.tanh(n)) / 1e-3"), 1,
     {"n": "a difference quotient", **follows(*BELOW_N)}),
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "h = 0.01\ndn = do * (math.tanh(n + h) - math.tanh(n - h)) / (2*h)"),
     1, {"n": "a difference quotient", **follows(*BELOW_N)}),
    # one product's gradient typed in: right at x2 = 0, and the two below it are right given it
    ("ex2", EX2_RIGHT.replace("dx2w2 = dn", "dx2w2 = 0.5"), 7,
     {"x2w2": "dx2w2 is a number typed for these values", **follows("x2", "w2")}),
    # the local derivative alone where x2 = 0 hides it: the hidden values say which mistake it is
    ("ex2", EX2_RIGHT.replace("dw2 = x2 * dx2w2", "dw2 = x2"), 9, {"w2": "upstream factor is missing"}),
    # tanh's derivative by a symmetric difference: close, and no answer; the ones below it follow
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * (math.tanh(n + 1e-6) - math.tanh(n - 1e-6)) / 2e-6"),
     1, {"n": "as a numerical estimate is", **follows(*BELOW_N)}),
    # ---------------------------------------------------------------- Exercise 3: f's gradient, by calculus and by estimates
    ("ex3", EX3_SOLUTION.replace("-3*a**2 - 0.5*a**-0.5", "-3*a*a - 1/(2*math.sqrt(a))"), 6, {}),
    ("ex3", EX3_SOLUTION.replace("-3*a**2 - 0.5*a**-0.5", "-3*a**2 - 0.5*a**0.5"), 4, {"gradf": "power rule"}),
    # right: the lecture's own cell imports sin and cos, and learners write cos(3*b)
    ("ex3", gradf("return [-3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**1.5, 1/c**2]"), 6, {}),
    ("ex3", gradf("return [-12.353553390593273, 10.25699027111255, 0.0625]"), 4,
     {"gradf": "gradf returns numbers typed for (2, 3, 4): write each derivative"}),
    # right, with math.pow and math.sqrt
    ("ex3", gradf("return [-3*math.pow(a, 2) - 0.5*math.pow(a, -0.5), 3*math.cos(3*b) + 2.5*math.pow(b, 1.5), "
                  "math.pow(c, -2)]"), 6, {}),
    ("ex3", gradf("return [-3*a**2 - 0.5/math.sqrt(a), 3*math.cos(3*b) + 2.5*math.sqrt(b)**3, 1.0/(c*c)]"), 6, {}),
    # right, in another order, as a tuple
    ("ex3", gradf("return (-0.5*a**-0.5 - 3*a**2, 2.5*b**1.5 + 3*cos(3*b), c**-2)"), 6, {}),
    # right, term by term
    ("ex3", gradf("dfda = -3*a**2 - 0.5*a**-0.5\n    dfdb = 3*cos(3*b) + 2.5*b**1.5\n    dfdc = 1/c**2\n"
                  "    return [dfda, dfdb, dfdc]"), 6, {}),
    # the sign of d/dc (-1/c) flipped
    ("ex3", gradf("return [-3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**1.5, -1/c**2]"), 4,
     {"gradf": "wrong in df/dc; the other ones are right"}),
    # the chain rule's inner factor 3 of sin(3b) left out
    ("ex3", gradf("return [-3*a**2 - 0.5*a**-0.5, cos(3*b) + 2.5*b**1.5, 1/c**2]"), 4,
     {"gradf": "df/db: the chain rule"}),
    ("ex3", gradf("return [-3*a**2 - 0.5*a**-0.5, 3*cos(b) + 2.5*b**1.5, 1/c**2]"), 4,
     {"gradf": "wrong in df/db; the other ones are right"}),
    # the power rule's exponent not lowered in b**2.5
    ("ex3", gradf("return [-3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**2.5, 1/c**2]"), 4,
     {"gradf": "df/db: the power rule"}),
    ("ex3", gradf("return [3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**1.5, 1/c**2]"), 4,
     {"gradf": "wrong in df/da; the other ones are right"}),
    ("ex3", gradf("return [-3*a**2, 3*cos(3*b) + 2.5*b**1.5, 1/c]"), 4,
     {"gradf": "wrong in df/da, df/dc; the other one is right"}),
    # the analytic gradient answered with an estimate
    ("ex3", gradf("return [(f(a + 1e-6, b, c) - f(a - 1e-6, b, c)) / 2e-6, (f(a, b + 1e-6, c) - f(a, b - 1e-6, c)) "
                  "/ 2e-6, (f(a, b, c + 1e-6) - f(a, b, c - 1e-6)) / 2e-6]"), 4, {"gradf": "as a numerical estimate is"}),
    # right: the one-sided estimate backwards, (f(x) - f(x - h)) / h, is one-sided too
    ("ex3", numerical(NUMERICAL.replace("f(2 + h, 3, 4) - f(2, 3, 4)", "f(2, 3, 4) - f(2 - h, 3, 4)")), 6, {}),
    # right: a step of the learner's own, in a loop over the variables
    ("ex3", numerical("h1 = 0.0001\nnumerical_grad = []\nfor i in range(3):\n    x = [2, 3, 4]\n    x[i] += h1\n"
                      "    numerical_grad.append((f(*x) - f(2, 3, 4)) / h1)"), 6, {}),
    # right: the estimates with a, b, c named, and h = 0.0001 for both
    ("ex3", EX3_SOLUTION.replace("h = 0.000001", "h = 0.0001\na, b, c = 2, 3, 4")
     .replace("f(2 + h, 3, 4)", "f(a + h, b, c)").replace("f(2 - h, 3, 4)", "f(a - h, b, c)"), 6, {}),
    # the symmetric difference where the one-sided one is asked
    ("ex3", numerical(NUMERICAL2.replace("numerical_grad2 = ", "numerical_grad = ")), 4,
     {"numerical_grad": "is the symmetric difference"}),
    # the one-sided difference where the symmetric one is asked
    ("ex3", numerical2(NUMERICAL.replace("numerical_grad = ", "numerical_grad2 = ")), 4,
     {"numerical_grad2": "is the one-sided difference"}),
    # the symmetric difference divided by h
    ("ex3", numerical2(NUMERICAL2.replace("(2*h)", "h")), 4, {"numerical_grad2": "divide by 2 * h"}),
    # the estimates typed in from a printout: right at (2, 3, 4), not estimates of anything on the hidden run
    ("ex3", numerical("numerical_grad = [-12.353559348809995, 10.256991666679482, 0.0624999843184264]"), 4,
     {"numerical_grad": "not evaluated where a one-sided difference needs it"}),
    # gradf's values where an estimate is asked
    ("ex3", numerical("numerical_grad = gradf(2, 3, 4)"), 4, {"numerical_grad": "the exact derivative"}),
    # one variable's estimate along another variable
    ("ex3", numerical(NUMERICAL.replace("(f(2, 3, 4 + h) - f(2, 3, 4)) / h", "(f(2, 3 + h, 4) - f(2, 3, 4)) / h")), 4,
     {"numerical_grad": "wrong in df/dc"}),
    # the estimates left at the placeholder
    ("ex3", numerical("numerical_grad = [0, 0, 0]").replace(NUMERICAL2, "numerical_grad2 = [0, 0, 0]"), 2,
     {"numerical_grad": "placeholder, [0, 0, 0]: not answered yet",
      "numerical_grad2": "placeholder, [0, 0, 0]: not answered yet"}),
    # the notebook's own print line raises after the answers: they are still graded
    ("ex3", EX3_SOLUTION + "\nprint(yours)\n", 6, {}),
    # ---------------------------------------------------------------- Exercise 4: the Value class
    ("ex4", value_class(**{"self.grad += 1.0 * out.grad": "self.grad = self.grad + out.grad",
                           "other.grad += 1.0 * out.grad": "other.grad = out.grad + other.grad"}), 10, {}),
    ("ex4", value_class(**{"self.grad += 1.0 * out.grad": "self.grad = 1.0 * out.grad",
                           "other.grad += 1.0 * out.grad": "other.grad = 1.0 * out.grad"}), 6,
     {"add": "overwritten (=) instead of accumulated", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += other.data * out.grad": "self.grad += other.data",
                           "other.grad += self.data * out.grad": "other.grad += self.data"}), 6,
     {"mul": "upstream factor is missing", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += (1 - t**2) * out.grad": "self.grad += (1 - x**2) * out.grad"}), 6,
     {"tanh": "the output, not the input", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += other * (self.data ** (other - 1)) * out.grad":
                           "self.grad += other * self.data ** other * out.grad"}), 6,
     {"pow": "power rule", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += out.data * out.grad": "self.grad += x * out.grad"}), 6,
     {"exp": "out.data", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad = 1.0": "pass"}), 5, {"backward": "self.grad = 1.0", "graphs": "failed above"}),
    ("ex4", with_backward("""    def backward(self):
        self.grad = 1.0
        queue = [self]
        while queue:
            node = queue.pop(0)
            node._backward()
            queue.extend(node._prev)
"""), 5, {"backward": "exactly once", "graphs": "failed above"}),
    # right, written other ways
    ("ex4", value_class(**{"self.grad += 1.0 * out.grad": "self.grad += out.grad",
                           "other.grad += 1.0 * out.grad": "other.grad += out.grad"}), 10, {}),
    ("ex4", value_class(**{"self.grad += (1 - t**2) * out.grad": "self.grad += (1 - math.tanh(x)**2) * out.grad",
                           "self.grad += out.data * out.grad": "self.grad += math.exp(x) * out.grad"}), 10, {}),
    ("ex4", value_class(**{"self.grad += other * (self.data ** (other - 1)) * out.grad":
                           "self.grad += other * self.data**(other - 1) * out.grad"}), 10, {}),
    # right: an iterative depth-first search for the topological order
    ("ex4", with_backward("""    def backward(self):
        topo, visited, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()
"""), 10, {}),
    # the topological order built, but walked forwards
    ("ex4", value_class(**{"for node in reversed(topo):": "for node in topo:"}), 5,
     {"backward": "exactly once", "graphs": "failed above"}),
    # no visited set: a node reached twice is in topo twice, and its _backward runs twice
    ("ex4", value_class(**{"if v not in visited:": "if True:"}), 5,
     {"backward": "exactly once", "graphs": "failed above"}),
    # backward as a recursion over the children, each reached once per path
    ("ex4", with_backward("""    def backward(self):
        self.grad = 1.0
        self._backprop()

    def _backprop(self):
        self._backward()
        for child in self._prev:
            child._backprop()
"""), 5, {"backward": "exactly once", "graphs": "failed above"}),
    # grad = 1 set after the loop, not before
    ("ex4", value_class(**{"self.grad = 1.0": "", "node._backward()": "node._backward()\nself.grad = 1.0"}), 5,
     {"backward": "self.grad = 1.0 before the loop", "graphs": "failed above"}),
    # mul's gradients overwritten, tanh's and pow's upstream factor left out
    ("ex4", value_class(**{"self.grad += other.data * out.grad": "self.grad = other.data * out.grad",
                           "other.grad += self.data * out.grad": "other.grad = self.data * out.grad"}), 6,
     {"mul": "overwritten (=) instead of accumulated", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += (1 - t**2) * out.grad": "self.grad += 1 - t**2"}), 6,
     {"tanh": "upstream factor is missing", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += other * (self.data ** (other - 1)) * out.grad":
                           "self.grad += other * self.data ** (other - 1)"}), 6,
     {"pow": "upstream factor is missing", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += out.data * out.grad": "self.grad = out.data * out.grad"}), 6,
     {"exp": "overwritten (=) instead of accumulated", "graphs": "failed above"}),
    # each factor's own value where the other's belongs
    ("ex4", value_class(**{"self.grad += other.data * out.grad": "self.grad += self.data * out.grad",
                           "other.grad += self.data * out.grad": "other.grad += other.data * out.grad"}), 6,
     {"mul": "the other factor's value", "graphs": "failed above"}),
    # tanh's derivative as 1 - t
    ("ex4", value_class(**{"self.grad += (1 - t**2) * out.grad": "self.grad += (1 - t) * out.grad"}), 6,
     {"tanh": "not 1 - t", "graphs": "failed above"}),
    # the power rule's exponent lowered twice
    ("ex4", value_class(**{"self.grad += other * (self.data ** (other - 1)) * out.grad":
                           "self.grad += (other - 1) * self.data ** (other - 2) * out.grad"}), 6,
     {"pow": "power rule", "graphs": "failed above"}),
    # the lecture's first __add__, before it wraps numbers: every graph with a constant stops; backward() is
    # judged alone, on nodes the class's constructor makes, and is right
    ("ex4", value_class(**{"other = other if isinstance(other, Value) else Value(other)": ""}), 7,
     {"graphs": "AttributeError"}),
    # right: pow's derivative from its output
    ("ex4", value_class(**{"self.grad += other * (self.data ** (other - 1)) * out.grad":
                           "self.grad += other * out.data / self.data * out.grad"}), 10, {}),
    # ---------------------------------------------------------------- Exercise 6: support for softmax
    ("ex6", softmax_ops(COLAB_OPS), 10, {}),
    # right: log's derivative from its input written 1 / self.data * out.grad
    ("ex6", colab_ops("self.grad += out.grad / self.data", "self.grad += 1 / self.data * out.grad"), 10, {}),
    # right: math's exp and log
    ("ex6", colab_ops("exp(self.data)", "math.exp(self.data)").replace("log(self.data)", "math.log(self.data)"), 10, {}),
    # right: a power with a Value exponent's data, and subtraction of its own
    ("ex6", colab_ops("    def __neg__(self):", "    def __sub__(self, other):\n        return self + (-other)\n\n"
                      "    def __neg__(self):"), 10, {}),
    # right: -x as its own node
    ("ex6", colab_ops("    def __neg__(self):\n        return self * -1",
                      "    def __neg__(self):\n        out = Value(-self.data, (self,), 'neg')\n"
                      "        def _backward():\n            self.grad += -1.0 * out.grad\n"
                      "        out._backward = _backward\n        return out"), 10, {}),
    # right: division through pow, as the lecture does
    ("ex6", colab_ops("""    def __truediv__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data / other.data, (self, other), '/')
        def _backward():
            self.grad += (1 / other.data) * out.grad
            other.grad += (-self.data / other.data**2) * out.grad
        out._backward = _backward
        return out""", "    def __truediv__(self, other):\n        return self * other**-1"), 10, {}),
    # log overwrites its operand's gradient
    ("ex6", colab_ops("self.grad += out.grad / self.data", "self.grad = out.grad / self.data"), 9,
     {"log": "overwritten (=) instead of accumulated"}),
    # log's derivative taken at its output
    ("ex6", colab_ops("self.grad += out.grad / self.data", "self.grad += out.grad / out.data"), 6,
     {"log": "not the output", "softmax": "failed above"}),
    # exp without the upstream gradient
    ("ex6", colab_ops("self.grad += out.data * out.grad", "self.grad += out.data"), 6,
     {"exp": "upstream factor is missing", "softmax": "failed above"}),
    # exp's derivative as its input
    ("ex6", colab_ops("self.grad += out.data * out.grad", "self.grad += self.data * out.grad"), 6,
     {"exp": "exp(x) itself", "softmax": "failed above"}),
    # mul with the other Value instead of its data: a grad becomes a Value
    ("ex6", colab_ops("self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
                      "self.grad += other * out.grad\n            other.grad += self * out.grad"), 5,
     {"mul": "other.data", "neg": "other.data", "softmax": "failed above"}),
    # mul's factors swapped
    ("ex6", colab_ops("self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
                      "self.grad += self.data * out.grad\n            other.grad += other.data * out.grad"), 5,
     {"mul": "the other factor's value", "neg": None, "softmax": "failed above"}),
    # the divisor's gradient without its minus sign
    ("ex6", colab_ops("(-self.data / other.data**2)", "(self.data / other.data**2)"), 6,
     {"div": "its sign is minus", "softmax": "failed above"}),
    # the power rule's exponent not lowered
    ("ex6", colab_ops("k * self.data**(k - 1)", "k * self.data**k"), 9, {"pow": "power rule"}),
    # no __radd__: sum() cannot start
    ("ex6", colab_ops("    def __radd__(self, other):\n        return self + other\n", ""), 6,
     {"radd": "TypeError", "softmax": "failed above"}),
    # no log yet
    ("ex6", colab_ops("    def log(self):", "    def log_(self):"), 6,
     {"log": "AttributeError", "softmax": "failed above"}),
    # the starter class untouched
    ("ex6", softmax_ops(""), 0, {n: "none of the softmax's ops yet" for n in ("exp", "log", "div", "neg", "radd",
                                                                             "mul", "pow", "softmax")}),
    # the division's own node forgets its children: nothing flows back through it
    ("ex6", colab_ops("out = Value(self.data / other.data, (self, other), '/')",
                      "out = Value(self.data / other.data)"), 6, {"div": "_prev does not lead back",
                                                                   "softmax": "failed above"}),
    # exp's gradient through math.exp of the gradient
    ("ex6", colab_ops("self.grad += out.data * out.grad", "self.grad += exp(out.grad)"), 6,
     {"exp": None, "softmax": "failed above"}),
    # neg as a subtraction from zero, with __rsub__
    ("ex6", colab_ops("    def __neg__(self):\n        return self * -1",
                      "    def __neg__(self):\n        return 0 - self\n\n    def __rsub__(self, other):\n"
                      "        return Value(other) + self * -1"), 10, {}),
    # pow's operand wrapped: a Value exponent, as some learners write
    ("ex6", colab_ops("    def __pow__(self, k):", "    def __pow__(self, k):\n        k = k.data if isinstance(k, Value) else k"), 10, {}),
    # log's derivative as log itself
    ("ex6", colab_ops("self.grad += out.grad / self.data", "self.grad += log(self.data) * out.grad"), 6,
     {"log": "not log(x)", "softmax": "failed above"}),
    # neg with +1
    ("ex6", colab_ops("    def __neg__(self):\n        return self * -1",
                      "    def __neg__(self):\n        out = Value(-self.data, (self,), 'neg')\n"
                      "        def _backward():\n            self.grad += out.grad\n"
                      "        out._backward = _backward\n        return out"), 6,
     {"neg": "sign flipped", "softmax": "failed above"}),
    # the learner's whole class in the lecture's four-space style with tanh too: an extra op costs nothing
    ("ex6", softmax_ops(COLAB_OPS + "\n    def tanh(self):\n        t = (exp(2*self.data) - 1) / (exp(2*self.data) + 1)\n"
                        "        out = Value(t, (self,), 'tanh')\n        def _backward():\n"
                        "            self.grad += (1 - t**2) * out.grad\n        out._backward = _backward\n"
                        "        return out\n"), 10, {}),
    # the softmax's division with the numerator's grad overwritten
    ("ex6", colab_ops("self.grad += (1 / other.data) * out.grad", "self.grad = (1 / other.data) * out.grad"), 9,
     {"div": "overwritten"}),
    # the exercise notebook's whole class pasted in (no tanh, pow labelled 'pow', / its own node, no __sub__): tanh
    # is asked and missing; backward() and the graphs are judged on what the class has
    ("ex4", "import math\nfrom math import exp, log\n" + softmax_ops(COLAB_OPS), 9, {"tanh": "AttributeError"}),
    ("ex4", "import math\nfrom math import exp, log\n" + softmax_ops(COLAB_OPS.replace("    def exp(self):",
                                                                                     "    def exp_(self):")), 8,
     {"tanh": "AttributeError", "exp": "AttributeError"}),
    # ---------------------------------------------------------------- Exercise 5: train the MLP
    ("ex5", training_loop("p.data += -0.1 * p.grad", "p.data -= 0.05 * p.grad"), 8, {}),
    ("ex5", training_loop(ZERO_GRAD, ""), 4, {"step2": "zero_grad", "step3": "zero_grad"}),
    ("ex5", training_loop("p.data += -0.1 * p.grad", "p.data += 0.1 * p.grad"), 6, {"update": "down the gradient"}),
    ("ex5", training_loop("return act.tanh()", "return act"), 2, {k: "without tanh" for k in ("step1", "step2", "step3")}),
    # right, written other ways
    ("ex5", training_loop("loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred))",
                          "loss = sum([(yout - ygt)**2 for ygt, yout in zip(ys, ypred)])"), 8, {}),
    ("ex5", training_loop("loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred))",
                          "loss = sum(((yout - ygt)**2 for ygt, yout in zip(ys, ypred)), Value(0.0))"), 8, {}),
    ("ex5", training_loop("p.data += -0.1 * p.grad", "p.data = p.data - 0.1 * p.grad"), 8, {}),
    ("ex5", training_loop("  loss.backward()\n", "  loss.grad = 1.0\n  loss.backward()\n"), 8, {}),
    # right: ygt - yout, a float minus a Value (the provided Value has __rsub__)
    ("ex5", training_loop("loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred))",
                          "loss = sum([(ygt - yout)**2 for ygt, yout in zip(ys, ypred)])"), 8, {}),
    # only the first layer's gradients zeroed
    ("ex5", training_loop(ZERO_GRAD, "  for p in n.layers[0].parameters():\n    p.grad = 0.0\n"), 4,
     {"step2": "25 of the 41 parameters' gradients add up", "step3": "25 of the 41 parameters' gradients add up"}),
    ("ex5", training_loop("p.data += -0.1 * p.grad", "p.data += -learning_rate * p.grad")
     .replace("n = MLP(3, [4, 4, 1])", "n = MLP(3, [4, 4, 1])\nlearning_rate = 0.1"), 8, {}),
    ("ex5", training_loop("act = sum((wi*xi for wi, xi in zip(self.w, x)), self.b)",
                          "act = sum(wi*xi for wi, xi in zip(self.w, x)) + self.b"), 8, {}),
    ("ex5", training_loop("    return [p for layer in self.layers for p in layer.parameters()]\n",
                          "    return [p for layer in self.layers for p in layer.parameters()]\n\n"
                          "  def zero_grad(self):\n    for p in self.parameters():\n      p.grad = 0.0\n")
     .replace(ZERO_GRAD, "  n.zero_grad()\n"), 8, {}),
    # right: the gradients zeroed after the update, ready for the next step
    ("ex5", training_loop(ZERO_GRAD, "").replace("    p.data += -0.1 * p.grad\n",
                                                 "    p.data += -0.1 * p.grad\n    p.grad = 0.0\n"), 8, {}),
    ("ex5", training_loop("p.grad = 0.0", "p.grad = 0"), 8, {}),
    ("ex5", training_loop("random.uniform(-1, 1)", "random.gauss(0, 0.5)"), 8, {}),
    ("ex5", training_loop("for k in range(steps):", "for k in range(20):"), 8, {}),
    ("ex5", training_loop("p.data += -0.1 * p.grad", "p.data += -0.5 * p.grad"), 8, {}),
    # the mean squared error where the lecture sums
    ("ex5", training_loop("loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred))",
                          "loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred)) * (1 / len(ys))"), 2,
     {k: "the mean" for k in ("step1", "step2", "step3")}),
    # the gradients zeroed between backward() and the update: nothing moves
    ("ex5", training_loop(ZERO_GRAD, "").replace("  loss.backward()\n", "  loss.backward()\n" + ZERO_GRAD), 6,
     {"update": "never move"}),
    # backward() forgotten
    ("ex5", training_loop("  loss.backward()\n", ""), 0,
     {"step1": "no loss.backward() ran", "step2": "no loss.backward() ran", "step3": "no loss.backward() ran",
      "update": "no loss.backward() ran"}),
    # the forward pass once, before the loop: every step differentiates the first step's graph
    ("ex5", training_loop("  ypred = [n(x) for x in xs]\n  loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred))\n",
                          "").replace("for k in range(steps):",
                                      "ypred = [n(x) for x in xs]\nloss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred))\n"
                                      "for k in range(steps):"), 4, {"step2": None, "step3": None}),
    # a Layer that always returns a list: the loss cannot be computed
    ("ex5", training_loop("return outs[0] if len(outs) == 1 else outs", "return outs"), 0,
     {k: "TypeError" for k in ("step1", "step2", "step3", "update")}),
    # parameters() as a list of lists
    ("ex5", training_loop("return [p for layer in self.layers for p in layer.parameters()]",
                          "return [layer.parameters() for layer in self.layers]"), 0,
     {k: "AttributeError" for k in ("step1", "step2", "step3", "update")}),
    # a neuron without its bias among its parameters
    ("ex5", training_loop("return self.w + [self.b]", "return self.w"), 2,
     {k: "41 parameters" for k in ("step1", "step2", "step3")}),
]
