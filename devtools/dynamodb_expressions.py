"""DynamoDB condition, key-condition and update expressions, evaluated in memory.

Used by `memory_store.MemoryDynamoDB` (the unit tier's table). Items and values
are in the wire format (`{"S": "x"}`, `{"N": "1"}`, `{"M": {...}}`, ...), as
boto3's low-level client sends and receives them.

Covered: the whole expression grammar (`AND OR NOT`, parentheses, `= <> < <= >
>=`, `BETWEEN`, `IN`, `attribute_exists`, `attribute_not_exists`,
`attribute_type`, `begins_with`, `contains`, `size`; `SET` with `+ -`,
`if_not_exists`, `list_append`; `REMOVE`, `ADD`, `DELETE`; nested paths `a.b`
and `a[0]`). DynamoDB's own rules are kept where they catch mistakes: a
comparison with a missing attribute or one of another type is false (`<>`
true), arithmetic on a missing attribute is a ValidationException, as are
unused or undefined `#names`/`:values` and two actions on overlapping paths.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from typing import Any, Optional


class ExpressionError(Exception):
    """What DynamoDB answers with a ValidationException."""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<name>\#[A-Za-z0-9_]+)
  | (?P<value>:[A-Za-z0-9_]+)
  | (?P<op><>|<=|>=|=|<|>)
  | (?P<punct>[(),.\[\]+\-])
  | (?P<number>[0-9]+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
""",
    re.VERBOSE,
)

KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE"}


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise ExpressionError(f"Invalid expression: syntax error at {text[at : at + 20]!r}")
        at = match.end()
        kind = match.lastgroup  # every alternative is a named group
        if kind is None:
            raise ExpressionError(f"Invalid expression: syntax error at {text[at : at + 20]!r}")
        if kind == "space":
            continue
        word = match.group()
        if kind == "word" and word.upper() in KEYWORDS:
            kind, word = "keyword", word.upper()
        tokens.append((kind, word))
    return tokens


class Expressions:
    """The `#names` and `:values` of one request, and which of them were used."""

    def __init__(self, names: Optional[dict], values: Optional[dict]):
        self.names = dict(names or {})
        self.values = dict(values or {})
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    def name(self, ref: str) -> str:
        if ref not in self.names:
            raise ExpressionError(
                f"An expression attribute name used in the document path is not defined; attribute name: {ref}"
            )
        self.used_names.add(ref)
        return self.names[ref]

    def value(self, ref: str) -> dict:
        if ref not in self.values:
            raise ExpressionError(
                f"An expression attribute value used in expression is not defined; attribute value: {ref}"
            )
        self.used_values.add(ref)
        return self.values[ref]

    def check_all_used(self) -> None:
        unused_names = set(self.names) - self.used_names
        if unused_names:
            raise ExpressionError(
                f"Value provided in ExpressionAttributeNames unused in expressions: "
                f"keys: {{{', '.join(sorted(unused_names))}}}"
            )
        unused_values = set(self.values) - self.used_values
        if unused_values:
            raise ExpressionError(
                f"Value provided in ExpressionAttributeValues unused in expressions: "
                f"keys: {{{', '.join(sorted(unused_values))}}}"
            )


# -- parsing ----------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, refs: Expressions):
        self.tokens = tokenize(text)
        self.at = 0
        self.refs = refs

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, kind: Optional[str] = None, word: Optional[str] = None) -> tuple[str, str]:
        token = self.peek()
        if (kind and token[0] != kind) or (word and token[1] != word):
            raise ExpressionError(f"Invalid expression: expected {word or kind}, found {token[1] or 'end'!r}")
        self.at += 1
        return token

    def at_end(self) -> bool:
        return self.at >= len(self.tokens)

    # path: element ('.' element | '[' n ']')*
    def path(self) -> tuple:
        parts: list = [self._element()]
        while True:
            if self.peek() == ("punct", "."):
                self.take()
                parts.append(self._element())
            elif self.peek() == ("punct", "["):
                self.take()
                parts.append(int(self.take("number")[1]))
                self.take("punct", "]")
            else:
                return tuple(parts)

    def _element(self) -> str:
        kind, word = self.peek()
        if kind == "name":
            self.take()
            return self.refs.name(word)
        if kind == "word":
            self.take()
            return word
        raise ExpressionError(f"Invalid expression: expected an attribute, found {word or 'end'!r}")

    # conditions -------------------------------------------------------------
    def condition(self) -> tuple:
        node = self._and()
        while self.peek() == ("keyword", "OR"):
            self.take()
            node = ("or", node, self._and())
        return node

    def _and(self) -> tuple:
        node = self._not()
        while self.peek() == ("keyword", "AND"):
            self.take()
            node = ("and", node, self._not())
        return node

    def _not(self) -> tuple:
        if self.peek() == ("keyword", "NOT"):
            self.take()
            return ("not", self._not())
        return self._primary()

    def _primary(self) -> tuple:
        if self.peek() == ("punct", "("):
            self.take()
            node = self.condition()
            self.take("punct", ")")
            return node
        kind, word = self.peek()
        if kind == "word" and self.peek(1) == ("punct", "(") and word != "size":
            return self._boolean_function()
        left = self.operand()
        kind, word = self.peek()
        if kind == "op":
            self.take()
            return ("compare", word, left, self.operand())
        if (kind, word) == ("keyword", "BETWEEN"):
            self.take()
            low = self.operand()
            self.take("keyword", "AND")
            return ("between", left, low, self.operand())
        if (kind, word) == ("keyword", "IN"):
            self.take()
            self.take("punct", "(")
            options = [self.operand()]
            while self.peek() == ("punct", ","):
                self.take()
                options.append(self.operand())
            self.take("punct", ")")
            return ("in", left, options)
        raise ExpressionError(f"Invalid expression: expected a comparison, found {word or 'end'!r}")

    def _boolean_function(self) -> tuple:
        name = self.take("word")[1]
        self.take("punct", "(")
        if name in ("attribute_exists", "attribute_not_exists"):
            args = [("path", self.path())]
        elif name in ("attribute_type", "begins_with", "contains"):
            first = ("path", self.path())
            self.take("punct", ",")
            args = [first, self.operand()]
        else:
            raise ExpressionError(f"Invalid function name; function: {name}")
        self.take("punct", ")")
        return ("function", name, args)

    def operand(self) -> tuple:
        kind, word = self.peek()
        if kind == "value":
            self.take()
            return ("value", self.refs.value(word))
        if kind == "word" and word == "size" and self.peek(1) == ("punct", "("):
            self.take()
            self.take("punct", "(")
            path = self.path()
            self.take("punct", ")")
            return ("size", path)
        return ("path", self.path())

    # updates ----------------------------------------------------------------
    def update(self) -> list[tuple]:
        actions: list[tuple] = []
        seen: set[str] = set()
        while not self.at_end():
            clause = self.take("keyword")[1]
            if clause not in ("SET", "REMOVE", "ADD", "DELETE") or clause in seen:
                raise ExpressionError(f"Invalid UpdateExpression: unexpected or repeated {clause}")
            seen.add(clause)
            while True:
                path = self.path()
                if clause == "SET":
                    self.take("op", "=")
                    actions.append(("SET", path, self._set_value()))
                elif clause == "REMOVE":
                    actions.append(("REMOVE", path, None))
                else:
                    token = self.take("value")
                    actions.append((clause, path, ("value", self.refs.value(token[1]))))
                if self.peek() != ("punct", ","):
                    break
                self.take()
        if not actions:
            raise ExpressionError("Invalid UpdateExpression: The expression can not be empty")
        paths = [a[1] for a in actions]
        for i, one in enumerate(paths):
            for other in paths[i + 1 :]:
                shorter = min(len(one), len(other))
                if one[:shorter] == other[:shorter]:
                    raise ExpressionError(
                        f"Invalid UpdateExpression: Two document paths overlap with each "
                        f"other; path one: {list(one)}, path two: {list(other)}"
                    )
        return actions

    def _set_value(self) -> tuple:
        left = self._set_operand()
        if self.peek() in (("punct", "+"), ("punct", "-")):
            sign = self.take()[1]
            return ("arith", sign, left, self._set_operand())
        return left

    def _set_operand(self) -> tuple:
        kind, word = self.peek()
        if kind == "word" and self.peek(1) == ("punct", "("):
            self.take()
            self.take("punct", "(")
            if word == "if_not_exists":
                path = self.path()
                self.take("punct", ",")
                node = ("if_not_exists", path, self._set_operand())
            elif word == "list_append":
                first = self._set_operand()
                self.take("punct", ",")
                node = ("list_append", first, self._set_operand())
            else:
                raise ExpressionError(f"Invalid function name; function: {word}")
            self.take("punct", ")")
            return node
        if kind == "value":
            self.take()
            return ("value", self.refs.value(word))
        return ("path", self.path())


def parse_condition(text: str, refs: Expressions) -> tuple:
    parser = _Parser(text, refs)
    node = parser.condition()
    if not parser.at_end():
        raise ExpressionError(f"Invalid ConditionExpression: unexpected {parser.peek()[1]!r}")
    return node


def parse_update(text: str, refs: Expressions) -> list[tuple]:
    return _Parser(text, refs).update()


# -- values -------------------------------------------------------------------------
def type_of(value: dict) -> str:
    (kind,) = value.keys()
    return kind


def resolve(item: Optional[dict], path: tuple) -> Optional[dict]:
    """The wire value at `path` in `item`, or None when it is not there."""
    if item is None:
        return None
    current: Any = {"M": item}
    for part in path:
        if isinstance(part, int):
            if type_of(current) != "L" or part >= len(current["L"]):
                return None
            current = current["L"][part]
        else:
            if type_of(current) != "M" or part not in current["M"]:
                return None
            current = current["M"][part]
    return current


def _comparable(value: Optional[dict]) -> Optional[tuple[str, Any]]:
    if value is None:
        return None
    kind = type_of(value)
    if kind == "N":
        return kind, Decimal(value["N"])
    if kind in ("S", "B"):
        return kind, value[kind]
    return None


def values_equal(one: Optional[dict], other: Optional[dict]) -> bool:
    if one is None or other is None or type_of(one) != type_of(other):
        return False
    kind = type_of(one)
    if kind == "N":
        return Decimal(one["N"]) == Decimal(other["N"])
    if kind == "NS":
        return {Decimal(n) for n in one["NS"]} == {Decimal(n) for n in other["NS"]}
    if kind in ("SS", "BS"):
        return set(one[kind]) == set(other[kind])
    if kind == "L":
        return len(one["L"]) == len(other["L"]) and all(
            values_equal(a, b) for a, b in zip(one["L"], other["L"], strict=False)
        )
    if kind == "M":
        return one["M"].keys() == other["M"].keys() and all(values_equal(v, other["M"][k]) for k, v in one["M"].items())
    return one[kind] == other[kind]


def compare(op: str, one: Optional[dict], other: Optional[dict]) -> bool:
    if op == "=":
        return values_equal(one, other)
    if op == "<>":
        return not values_equal(one, other)
    a, b = _comparable(one), _comparable(other)
    if a is None or b is None or a[0] != b[0]:
        return False
    return {"<": a[1] < b[1], "<=": a[1] <= b[1], ">": a[1] > b[1], ">=": a[1] >= b[1]}[op]


def _size(value: Optional[dict]) -> Optional[dict]:
    if value is None:
        return None
    kind = type_of(value)
    if kind == "S":
        return {"N": str(len(value["S"].encode()))}
    if kind == "B":
        return {"N": str(len(value["B"]))}
    if kind in ("SS", "NS", "BS", "L", "M"):
        return {"N": str(len(value[kind]))}
    return None


def _operand(item: Optional[dict], node: tuple) -> Optional[dict]:
    if node[0] == "value":
        return node[1]
    if node[0] == "size":
        return _size(resolve(item, node[1]))
    return resolve(item, node[1])


def evaluate(node: tuple, item: Optional[dict]) -> bool:
    """Whether the condition holds for `item` (None: there is no item)."""
    kind = node[0]
    if kind == "or":
        return evaluate(node[1], item) or evaluate(node[2], item)
    if kind == "and":
        return evaluate(node[1], item) and evaluate(node[2], item)
    if kind == "not":
        return not evaluate(node[1], item)
    if kind == "compare":
        return compare(node[1], _operand(item, node[2]), _operand(item, node[3]))
    if kind == "between":
        value = _operand(item, node[1])
        return compare(">=", value, _operand(item, node[2])) and compare("<=", value, _operand(item, node[3]))
    if kind == "in":
        value = _operand(item, node[1])
        return any(values_equal(value, _operand(item, option)) for option in node[2])
    name, args = node[1], node[2]
    target = resolve(item, args[0][1])
    if name == "attribute_exists":
        return target is not None
    if name == "attribute_not_exists":
        return target is None
    argument = _operand(item, args[1])
    if name == "attribute_type":
        if argument is None or type_of(argument) != "S":
            raise ExpressionError("attribute_type takes a string type name")
        if argument["S"] not in ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"):
            raise ExpressionError(f"Invalid attribute type name found; type: {argument['S']}")
        return target is not None and type_of(target) == argument["S"]
    if name == "begins_with":
        if (
            target is None
            or argument is None
            or type_of(target) != type_of(argument)
            or type_of(target) not in ("S", "B")
        ):
            return False
        return target[type_of(target)].startswith(argument[type_of(argument)])
    # contains
    if target is None or argument is None:
        return False
    kind = type_of(target)
    if kind == "S":
        return type_of(argument) == "S" and argument["S"] in target["S"]
    if kind in ("SS", "NS", "BS", "L"):
        return any(values_equal(member if kind == "L" else {kind[0]: member}, argument) for member in target[kind])
    return False


# -- updates --------------------------------------------------------------------------
def _number(value: Optional[dict], what: str) -> Decimal:
    if value is None:
        raise ExpressionError("The provided expression refers to an attribute that does not exist in the item")
    if type_of(value) != "N":
        raise ExpressionError(f"An operand in the update expression has an incorrect data type ({what})")
    return Decimal(value["N"])


def _format_number(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text if text not in ("-0",) else "0"


def _set_value(original: Optional[dict], node: tuple) -> dict:
    kind = node[0]
    if kind == "value":
        return node[1]
    if kind == "path":
        found = resolve(original, node[1])
        if found is None:
            raise ExpressionError("The provided expression refers to an attribute that does not exist in the item")
        return found
    if kind == "if_not_exists":
        found = resolve(original, node[1])
        return found if found is not None else _set_value(original, node[2])
    if kind == "list_append":
        first, second = _set_value(original, node[1]), _set_value(original, node[2])
        if type_of(first) != "L" or type_of(second) != "L":
            raise ExpressionError("An operand in the update expression has an incorrect data type (list_append)")
        return {"L": first["L"] + second["L"]}
    # arith
    left = _number(_set_value(original, node[2]), node[1])
    right = _number(_set_value(original, node[3]), node[1])
    return {"N": _format_number(left + right if node[1] == "+" else left - right)}


def _parent(item: dict, path: tuple, create: bool) -> tuple[Optional[dict], Any]:
    """The container holding the last element of `path` and that element."""
    current: Any = {"M": item}
    for part in path[:-1]:
        current = resolve({"_": current}, ("_", part))
        if current is None:
            if create:
                raise ExpressionError("The document path provided in the update expression is invalid for update")
            return None, path[-1]
    last = path[-1]
    if isinstance(last, int) and type_of(current) != "L" or isinstance(last, str) and type_of(current) != "M":
        if create:
            raise ExpressionError("The document path provided in the update expression is invalid for update")
        return None, last
    return current, last


def _assign(item: dict, path: tuple, value: dict) -> None:
    container, last = _parent(item, path, create=True)
    if container is None:  # _parent raises rather than answer None when creating
        raise ExpressionError("The document path provided in the update expression is invalid for update")
    if isinstance(last, int):
        items = container["L"]
        if last < len(items):
            items[last] = value
        else:
            items.append(value)
    else:
        container["M"][last] = value


def _remove(item: dict, path: tuple) -> None:
    container, last = _parent(item, path, create=False)
    if container is None:
        return
    if isinstance(last, int):
        if last < len(container["L"]):
            del container["L"][last]
    else:
        container["M"].pop(last, None)


def apply_update(item: dict, actions: list[tuple]) -> dict:
    """The item after the update (every operand is read from the item before it)."""
    original = copy.deepcopy(item)
    updated = copy.deepcopy(item)
    planned: list[tuple[str, tuple, Optional[dict]]] = []
    for clause, path, node in actions:
        current = resolve(original, path)
        if clause == "SET":
            planned.append(("set", path, _set_value(original, node)))
        elif clause == "REMOVE":
            planned.append(("remove", path, None))
        elif clause == "ADD":
            value = node[1]
            kind = type_of(value)
            if kind == "N":
                base = Decimal(0) if current is None else _number(current, "ADD")
                planned.append(("set", path, {"N": _format_number(base + Decimal(value["N"]))}))
            elif kind in ("SS", "NS", "BS"):
                if current is not None and type_of(current) != kind:
                    raise ExpressionError("An operand in the update expression has an incorrect data type (ADD)")
                members = list(current[kind]) if current is not None else []
                members += [m for m in value[kind] if m not in members]
                planned.append(("set", path, {kind: members}))
            else:
                raise ExpressionError("Incorrect operand type for operator or function; operator: ADD")
        else:  # DELETE
            value = node[1]
            kind = type_of(value)
            if kind not in ("SS", "NS", "BS"):
                raise ExpressionError("Incorrect operand type for operator or function; operator: DELETE")
            if current is None:
                continue
            if type_of(current) != kind:
                raise ExpressionError("An operand in the update expression has an incorrect data type (DELETE)")
            members = [m for m in current[kind] if m not in value[kind]]
            planned.append(("set", path, {kind: members}) if members else ("remove", path, None))
    for what, path, value in planned:
        if what == "set" and value is not None:  # a "set" always carries its value
            _assign(updated, path, value)
        else:
            _remove(updated, path)
    return updated
