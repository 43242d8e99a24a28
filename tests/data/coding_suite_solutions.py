"""Reference solutions of eval/suites/coding_suite.yaml (task id -> source), checked by tests/test_tasks.py."""

SOLUTIONS = {
    'cs_rle_encode': r'''
def run_length_encode(s):
    out = []
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        out.append(f"{j - i}{s[i]}")
        i = j
    return "".join(out)
''',
    'cs_rle_decode': r'''
import re

def run_length_decode(s):
    return "".join(c * int(n) for n, c in re.findall(r"(\d+)([A-Za-z])", s))
''',
    'cs_top_k_words': r'''
import re
from collections import Counter

def top_k_words(text, k):
    counts = Counter(w.lower() for w in re.findall(r"[A-Za-z]+", text))
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
''',
    'cs_balanced_brackets': r'''
def is_balanced(s):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack
''',
    'cs_roman_to_int': r'''
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(s):
        v = values[ch]
        if i + 1 < len(s) and values[s[i + 1]] > v:
            total -= v
        else:
            total += v
    return total
''',
    'cs_int_to_roman': r'''
def int_to_roman(n):
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, sym in table:
        q, n = divmod(n, value)
        out.append(sym * q)
    return "".join(out)
''',
    'cs_flatten': r'''
def flatten(nested):
    out = []
    for item in nested:
        if isinstance(item, list):
            out.extend(flatten(item))
        else:
            out.append(item)
    return out
''',
    'cs_chunk_sums': r'''
def chunk_sums(nums, size):
    return [sum(nums[i:i + size]) for i in range(0, len(nums), size)]
''',
    'cs_merge_intervals': r'''
def merge_intervals(intervals):
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
''',
    'cs_parse_config': r'''
def parse_config(text):
    out = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, value = stripped.split("=", 1)
        out[key.strip()] = value.strip()
    return out
''',
    'cs_caesar': r'''
def caesar(text, shift):
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            out.append(chr((ord(ch) - 97 + shift) % 26 + 97))
        elif "A" <= ch <= "Z":
            out.append(chr((ord(ch) - 65 + shift) % 26 + 65))
        else:
            out.append(ch)
    return "".join(out)
''',
    'cs_digital_root': r'''
def digital_root(n):
    while n >= 10:
        n = sum(int(d) for d in str(n))
    return n
''',
    'cs_primes_between': r'''
def primes_between(lo, hi):
    def is_prime(n):
        if n < 2:
            return False
        i = 2
        while i * i <= n:
            if n % i == 0:
                return False
            i += 1
        return True
    return [n for n in range(max(lo, 2), hi + 1) if is_prime(n)]
''',
    'cs_second_largest': r'''
def second_largest(nums):
    distinct = sorted(set(nums))
    return distinct[-2] if len(distinct) >= 2 else None
''',
    'cs_group_anagrams': r'''
def group_anagrams(words):
    groups = {}
    for w in words:
        groups.setdefault("".join(sorted(w)), []).append(w)
    return list(groups.values())
''',
    'cs_spiral_order': r'''
def spiral_order(matrix):
    rows = [list(r) for r in matrix]
    out = []
    while rows and rows[0]:
        out.extend(rows.pop(0))
        rows = [list(r) for r in zip(*rows)][::-1]
    return out
''',
    'cs_camel_to_snake': r'''
def camel_to_snake(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0:
            prev = name[i - 1]
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                out.append("_")
        out.append(ch.lower())
    return "".join(out)
''',
    'cs_eval_rpn': r'''
def eval_rpn(tokens):
    stack = []
    for tok in tokens:
        if tok in ("+", "-", "*", "/"):
            b = stack.pop()
            a = stack.pop()
            if tok == "+":
                stack.append(a + b)
            elif tok == "-":
                stack.append(a - b)
            elif tok == "*":
                stack.append(a * b)
            else:
                q = abs(a) // abs(b)
                stack.append(q if (a >= 0) == (b >= 0) else -q)
        else:
            stack.append(int(tok))
    return stack[0]
''',
    'cs_moving_average': r'''
def moving_average(nums, window):
    return [round(sum(nums[i:i + window]) / window, 2) for i in range(len(nums) - window + 1)]
''',
    'cs_longest_common_prefix': r'''
def longest_common_prefix(words):
    if not words:
        return ""
    prefix = words[0]
    for w in words[1:]:
        while not w.startswith(prefix):
            prefix = prefix[:-1]
    return prefix
''',
    'cs_invoice_total': r'''
def invoice_total(lines):
    subtotal = 0.0
    for line in lines:
        left, price = line.rsplit("@", 1)
        qty = left.strip().split("x", 1)[0]
        subtotal += int(qty) * float(price)
    if subtotal > 100:
        subtotal *= 0.9
    return round(subtotal, 2)
''',
    'cs_summarize_ranges': r'''
def summarize_ranges(nums):
    values = sorted(set(nums))
    parts = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ",".join(parts)
''',
    'cs_isbn10': r'''
def is_valid_isbn10(s):
    chars = s.replace("-", "")
    if len(chars) != 10 or not chars[:9].isdigit() or not (chars[9].isdigit() or chars[9] == "X"):
        return False
    values = [int(c) for c in chars[:9]] + [10 if chars[9] == "X" else int(chars[9])]
    return sum((10 - i) * v for i, v in enumerate(values)) % 11 == 0
''',
    'cs_wrap_text': r'''
def wrap_text(text, width):
    lines = []
    current = ""
    for word in text.split():
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines
''',
    'cs_mat_mul': r'''
def mat_mul(a, b):
    if any(len(row) != len(b) for row in a):
        raise ValueError("shape mismatch")
    return [[sum(row[k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))] for row in a]
''',
    'cs_bank_ledger': r'''
def final_balances(transactions):
    bal = {}
    for tx in transactions:
        parts = tx.split()
        name, op, amount = parts[0], parts[1], int(parts[2])
        bal.setdefault(name, 0)
        if op == "deposit":
            bal[name] += amount
        elif op == "withdraw":
            if amount <= bal[name]:
                bal[name] -= amount
        else:
            other = parts[3]
            bal.setdefault(other, 0)
            if amount <= bal[name]:
                bal[name] -= amount
                bal[other] += amount
    return bal
''',
    'cs_count_islands': r'''
def count_islands(grid):
    seen = set()
    count = 0
    for r in range(len(grid)):
        for c in range(len(grid[r])):
            if grid[r][c] == "#" and (r, c) not in seen:
                count += 1
                stack = [(r, c)]
                seen.add((r, c))
                while stack:
                    y, x = stack.pop()
                    for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                        if 0 <= ny < len(grid) and 0 <= nx < len(grid[ny]) and grid[ny][nx] == "#" and (ny, nx) not in seen:
                            seen.add((ny, nx))
                            stack.append((ny, nx))
    return count
''',
    'cs_minutes_between': r'''
def minutes_between(start, end):
    def minutes(t):
        h, m = t.split(":")
        return int(h) * 60 + int(m)
    return (minutes(end) - minutes(start)) % 1440
''',
    'cs_poly_eval': r'''
import re

def poly_eval(expr, x):
    total = 0
    for sign, term in re.findall(r"([+-]?)\s*([^+-]+)", expr.replace(" ", "")):
        if "x" in term:
            coef, _, power = term.partition("x")
            value = (int(coef) if coef else 1) * x ** (int(power[1:]) if power else 1)
        else:
            value = int(term)
        total += -value if sign == "-" else value
    return total
''',
    'cs_valid_ipv4': r'''
def is_valid_ipv4(s):
    parts = s.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not (1 <= len(p) <= 3) or not all(c in "0123456789" for c in p):
            return False
        if p[0] == "0" and len(p) > 1:
            return False
        if int(p) > 255:
            return False
    return True
''',
}
