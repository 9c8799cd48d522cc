// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// NameRegex: the Python regular expressions adapter configs hold, matched against whole module
// names in time linear in the name, with no backtracking and no unbounded recursion.
#pragma once

#include <algorithm>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/error.hpp"

namespace lorakit::detail {

/// A pattern in the part of Python's `re` syntax that PEFT configs use, compiled to a Thompson
/// NFA and matched against a whole name (Python's `re.fullmatch`) by running every NFA state in
/// step over the name: O(name × states) time, whatever the pattern, where a backtracking engine
/// (std::regex) takes exponential time on patterns like `(.*.*)*x` and recurses once per
/// character and per nesting level.
///
/// Syntax (ASCII): literals; `.` (any character but '\n'); escapes `\d \D \w \W \s \S` (as
/// Python's str patterns define them on ASCII), `\A`, `\Z`, `\n \t \r \f \v \a`, `\xHH` and
/// any escaped punctuation; classes `[...]`, `[^...]` with ranges and those escapes; groups
/// `(...)`, `(?:...)`, `(?P<name>...)`; alternation `|`; quantifiers `* + ? {m} {m,} {,n}
/// {m,n}`, each optionally lazy (`*?`: the same answer under a full match); anchors `^`, `$`
/// (the end, or just before a final '\n', as in Python), `\A`, `\Z` anywhere. Names are
/// compared byte by byte, so a name with non-ASCII characters may match `.`, negated classes
/// and `\W \S \D` differently from Python (module names are ASCII in practice).
///
/// Refused with Errc::unsupported: non-ASCII bytes in the pattern (and `\x80`-`\xff`),
/// backreferences, octal escapes, lookaround, atomic groups, conditionals, comments, inline
/// flags, `\b \B`, `\u \U \N`, possessive quantifiers. Refused with Errc::bad_config: what
/// Python refuses too (unbalanced parentheses, nothing to repeat, multiple repeats, bad escapes,
/// ranges and group names). Refused with Errc::limit_exceeded: a pattern longer, deeper or
/// larger as an NFA than NameRegex::Limits allow, or a repeat count above 1000, checked while
/// compiling, so a hostile pattern costs bounded time and memory.
class NameRegex {
 public:
  struct Limits {
    std::size_t max_pattern_bytes = 1 << 16;
    std::size_t max_depth = 200;       ///< nested groups (at most 1000 are honoured)
    std::size_t max_states = 1 << 16;  ///< NFA states after expanding counted repeats (<= 2^24)
  };

  /// @throws lorakit::Error (bad_config, unsupported or limit_exceeded) naming the position.
  [[nodiscard]] static NameRegex compile(std::string_view pattern, const Limits& limits) {
    Limits honoured = limits;  // keeps state indices in 32 bits and the compiler's stack small
    honoured.max_depth = std::min<std::size_t>(honoured.max_depth, 1000);
    honoured.max_states = std::min<std::size_t>(honoured.max_states, std::size_t{1} << 24);
    NameRegex re;
    Compiler c{pattern, honoured, re};
    c.run();
    return re;
  }
  [[nodiscard]] static NameRegex compile(std::string_view pattern) {
    return compile(pattern, Limits{});
  }

  /// Whether the pattern matches all of `name`.
  [[nodiscard]] bool full_match(std::string_view name) const {
    if (states_.empty()) return false;  // moved from
    const std::size_t n = name.size();
    const bool final_newline = n > 0 && name[n - 1] == '\n';
    std::vector<std::uint32_t> current, next, stack;
    std::vector<std::size_t> seen(states_.size(), kNever);
    current.reserve(states_.size());
    next.reserve(states_.size());
    add(start_, 0, n, final_newline, current, seen, stack);
    for (std::size_t i = 0; i < n && !current.empty(); ++i) {
      const auto c = static_cast<unsigned char>(name[i]);
      next.clear();
      for (std::uint32_t s : current) {
        const State& st = states_[s];
        if (st.op == Op::bytes && sets_[st.set].test(c)) {
          add(st.next, i + 1, n, final_newline, next, seen, stack);
        }
      }
      current.swap(next);
    }
    for (std::uint32_t s : current) {
      if (states_[s].op == Op::match) return true;
    }
    return false;
  }

  /// NFA states, for tests of the limits.
  [[nodiscard]] std::size_t states() const noexcept { return states_.size(); }

 private:
  enum class Op : std::uint8_t { match, bytes, split, begin, end, end_line };
  struct State {
    Op op = Op::match;
    std::uint32_t set = 0;   // bytes: index into sets_
    std::uint32_t next = 0;  // bytes, begin, end: the following state; split: the first branch
    std::uint32_t alt = 0;   // split: the second branch
  };
  using ByteSet = std::bitset<256>;
  static constexpr std::size_t kNever = std::numeric_limits<std::size_t>::max();

  NameRegex() = default;

  // Adds state s and everything reachable from it without reading a byte (at position pos of
  // an n-byte name, which may end in '\n') to `list`, each state once per position. An explicit
  // stack, no recursion.
  void add(std::uint32_t s, std::size_t pos, std::size_t n, bool final_newline,
           std::vector<std::uint32_t>& list, std::vector<std::size_t>& seen,
           std::vector<std::uint32_t>& stack) const {
    stack.push_back(s);
    while (!stack.empty()) {
      const std::uint32_t t = stack.back();
      stack.pop_back();
      if (seen[t] == pos) continue;
      seen[t] = pos;
      const State& st = states_[t];
      switch (st.op) {
        case Op::split:
          stack.push_back(st.alt);
          stack.push_back(st.next);
          break;
        case Op::begin:
          if (pos == 0) stack.push_back(st.next);
          break;
        case Op::end:
          if (pos == n) stack.push_back(st.next);
          break;
        case Op::end_line:
          if (pos == n || (final_newline && pos + 1 == n)) stack.push_back(st.next);
          break;
        case Op::match:
        case Op::bytes: list.push_back(t); break;
      }
    }
  }

  // The parse tree: a pattern is parsed first, then compiled back to front, each node given the
  // state that follows it (so no dangling outputs need patching).
  struct Node {
    enum class Kind : std::uint8_t {
      empty,
      bytes,
      begin,
      end,
      end_line,
      concat,
      alternate,
      repeat
    };
    Kind kind = Kind::empty;
    std::uint32_t set = 0;
    std::vector<std::uint32_t> children;
    std::size_t min = 0, max = 0;  // repeat: counts, max == kNever for no upper bound
  };

  struct Compiler {
    std::string_view p;
    const Limits& limits;
    NameRegex& re;
    std::size_t pos = 0;
    std::vector<Node> nodes;
    std::vector<std::size_t> sizes;
    std::set<std::string_view> group_names;
    std::size_t work = 0;

    void run() {
      if (p.size() > limits.max_pattern_bytes) {
        fail(Errc::limit_exceeded, "the pattern's " + std::to_string(p.size()) +
                                       " bytes exceed the limit of " +
                                       std::to_string(limits.max_pattern_bytes));
      }
      for (; pos < p.size(); ++pos) {
        if (static_cast<unsigned char>(p[pos]) >= 0x80) {
          fail(Errc::unsupported, "non-ASCII bytes in a pattern are not supported");
        }
      }
      pos = 0;
      const std::uint32_t root = alternation(0);
      if (pos < p.size()) fail(Errc::bad_config, "unbalanced parenthesis");
      // The NFA's size is known from the tree: a pattern too large is refused before any state
      // is built (nested counted repeats multiply).
      measure();
      const std::size_t states = sizes[root] + 1;
      if (states > limits.max_states) {
        fail(Errc::limit_exceeded,
             "the pattern needs more than " + std::to_string(limits.max_states) + " NFA states");
      }
      re.states_.reserve(states);
      re.states_.push_back(State{});  // state 0: the match
      re.start_ = emit(root, 0);
    }

    [[noreturn]] void fail(Errc code, const std::string& what) const {
      throw Error(code, {}, what + " at position " + std::to_string(pos));
    }

    std::uint32_t node(Node n) {
      nodes.push_back(std::move(n));
      return static_cast<std::uint32_t>(nodes.size() - 1);
    }
    std::uint32_t byte_node(const ByteSet& s) {
      re.sets_.push_back(s);
      return node(
          Node{.kind = Node::Kind::bytes, .set = static_cast<std::uint32_t>(re.sets_.size() - 1)});
    }
    [[nodiscard]] bool more() const { return pos < p.size(); }
    [[nodiscard]] char peek() const { return p[pos]; }
    [[nodiscard]] bool at(char c) const { return more() && p[pos] == c; }

    std::uint32_t alternation(std::size_t depth) {
      std::vector<std::uint32_t> branches{sequence(depth)};
      while (at('|')) {
        ++pos;
        branches.push_back(sequence(depth));
      }
      if (branches.size() == 1) return branches[0];
      return node(Node{.kind = Node::Kind::alternate, .children = std::move(branches)});
    }

    std::uint32_t sequence(std::size_t depth) {
      std::vector<std::uint32_t> items;
      while (more() && peek() != '|' && peek() != ')') {
        const bool anchor =
            peek() == '^' || peek() == '$' ||
            (peek() == '\\' && pos + 1 < p.size() && (p[pos + 1] == 'A' || p[pos + 1] == 'Z'));
        std::uint32_t item = atom(depth);
        if (quantifier(item, anchor)) {
          if (more() && (peek() == '*' || peek() == '+' || peek() == '?' || counted_ahead())) {
            fail(Errc::bad_config, "multiple repeat");
          }
        }
        items.push_back(item);
      }
      if (items.size() == 1) return items[0];
      return node(Node{.kind = Node::Kind::concat, .children = std::move(items)});
    }

    // A quantifier after an atom, if one follows: wraps the atom in a repeat node. A bare
    // anchor cannot be repeated (a group holding one can, as in Python).
    bool quantifier(std::uint32_t& item, bool anchor) {
      if (!more()) return false;
      std::size_t min = 0, max = 0;
      const char c = peek();
      if (c == '*' || c == '+' || c == '?') {
        ++pos;
        min = c == '+' ? 1 : 0;
        max = c == '?' ? 1 : kNever;
      } else if (!counted(min, max)) {
        return false;
      }
      if (anchor) fail(Errc::bad_config, "nothing to repeat");
      if (at('?')) {
        ++pos;  // lazy: the same answer under a full match
      } else if (at('+')) {
        fail(Errc::unsupported, "possessive quantifiers are not supported");
      }
      item = node(Node{.kind = Node::Kind::repeat, .children = {item}, .min = min, .max = max});
      return true;
    }

    // Whether a counted repeat {m}, {m,}, {,n} or {m,n} starts here (otherwise '{' is a
    // literal, as in Python).
    [[nodiscard]] bool counted_ahead() const {
      std::size_t m = 0, n = 0, end = 0;
      return scan_counted(m, n, end);
    }
    bool counted(std::size_t& min, std::size_t& max) {
      std::size_t end = 0;
      if (!scan_counted(min, max, end)) return false;
      pos = end;
      if (max < min) fail(Errc::bad_config, "min repeat greater than max repeat");
      if (min > 1000 || (max != kNever && max > 1000)) {
        fail(Errc::limit_exceeded, "repeat counts above 1000 are not supported");
      }
      return true;
    }
    [[nodiscard]] bool scan_counted(std::size_t& min, std::size_t& max, std::size_t& end) const {
      if (!at('{')) return false;
      std::size_t i = pos + 1;
      auto number = [&](std::size_t& v) {
        const std::size_t first = i;
        v = 0;
        while (i < p.size() && p[i] >= '0' && p[i] <= '9') {
          v = v > 100000 ? v : v * 10 + static_cast<std::size_t>(p[i] - '0');  // saturates
          ++i;
        }
        return i > first;
      };
      const bool has_min = number(min);
      if (!has_min) min = 0;
      if (i < p.size() && p[i] == '}') {
        if (!has_min) return false;
        max = min;
      } else if (i < p.size() && p[i] == ',') {
        ++i;
        if (!number(max)) max = kNever;
        if (i >= p.size() || p[i] != '}') return false;
      } else {
        return false;
      }
      end = i + 1;
      return true;
    }

    std::uint32_t atom(std::size_t depth) {
      const char c = peek();
      switch (c) {
        case '(': return group(depth);
        case '[': return byte_node(char_class());
        case '.': {
          ++pos;
          ByteSet any;
          any.set();
          any.reset('\n');
          return byte_node(any);
        }
        case '^': ++pos; return node(Node{.kind = Node::Kind::begin});
        case '$': ++pos; return node(Node{.kind = Node::Kind::end_line});
        case '*':
        case '+':
        case '?': fail(Errc::bad_config, "nothing to repeat");
        case '\\': return escape_atom();
        default:
          if (counted_ahead()) fail(Errc::bad_config, "nothing to repeat");
          ++pos;
          return byte_node(single(c));
      }
    }

    std::uint32_t group(std::size_t depth) {
      if (depth + 1 > limits.max_depth) {
        fail(Errc::limit_exceeded,
             "groups nested deeper than " + std::to_string(limits.max_depth) + " levels");
      }
      ++pos;  // '('
      if (at('?')) {
        ++pos;
        if (at(':')) {
          ++pos;
        } else if (at('P') && pos + 1 < p.size() && p[pos + 1] == '<') {
          pos += 2;
          group_name();
        } else if (at('P') && pos + 1 < p.size() && p[pos + 1] == '=') {
          fail(Errc::unsupported, "backreferences are not supported");
        } else if (more() && std::string_view("=!<>#(").find(peek()) != std::string_view::npos) {
          fail(Errc::unsupported,
               "lookaround, atomic groups, conditionals and comments are not supported");
        } else if (more() && std::string_view("aiLmsux-").find(peek()) != std::string_view::npos) {
          fail(Errc::unsupported, "inline flags are not supported");
        } else {
          fail(Errc::bad_config, "unknown extension (?");
        }
      }
      const std::uint32_t inner = alternation(depth + 1);
      if (!at(')')) fail(Errc::bad_config, "missing ), unterminated subpattern");
      ++pos;
      return inner;
    }

    // A (?P<name>...) group's name: an identifier, used once.
    void group_name() {
      const std::size_t first = pos;
      while (more() && peek() != '>') ++pos;
      if (!more()) fail(Errc::bad_config, "missing >, unterminated name");
      const std::string_view name = p.substr(first, pos - first);
      auto letter = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
      };
      bool ok = !name.empty() && letter(name[0]);
      for (char c : name) ok = ok && (letter(c) || (c >= '0' && c <= '9'));
      if (!ok) fail(Errc::bad_config, "bad character in group name");
      if (!group_names.insert(name).second) fail(Errc::bad_config, "redefinition of group name");
      ++pos;  // '>'
    }

    static ByteSet single(char c) {
      ByteSet s;
      s.set(static_cast<unsigned char>(c));
      return s;
    }
    static ByteSet range(unsigned lo, unsigned hi) {
      ByteSet s;
      for (unsigned b = lo; b <= hi; ++b) s.set(b);
      return s;
    }
    static ByteSet digits() { return range('0', '9'); }
    static ByteSet word() { return range('a', 'z') | range('A', 'Z') | digits() | single('_'); }
    // Python's str-pattern \s on ASCII: also the four separators 0x1c-0x1f.
    static ByteSet space() { return single(' ') | range('\t', '\r') | range(0x1c, 0x1f); }

    // The byte set of the escape at pos (just after the backslash); `in_class` for the meaning
    // inside [...] (where \b is a backspace); `is_class` says whether it stands for a class
    // (\d, \w, ...) rather than one byte. Anchors are handled by the caller.
    ByteSet escape_set(bool in_class, bool& is_class) {
      if (!more()) fail(Errc::bad_config, "bad escape (end of pattern)");
      const char c = peek();
      ++pos;
      is_class = c == 'd' || c == 'D' || c == 'w' || c == 'W' || c == 's' || c == 'S';
      switch (c) {
        case 'd': return digits();
        case 'D': return ~digits();
        case 'w': return word();
        case 'W': return ~word();
        case 's': return space();
        case 'S': return ~space();
        case 'n': return single('\n');
        case 't': return single('\t');
        case 'r': return single('\r');
        case 'f': return single('\f');
        case 'v': return single('\v');
        case 'a': return single('\a');
        case 'x': {
          unsigned v = 0;
          for (int k = 0; k < 2; ++k) {
            const char h = more() ? peek() : '\0';
            const bool dec = h >= '0' && h <= '9';
            const bool lower = h >= 'a' && h <= 'f', upper = h >= 'A' && h <= 'F';
            if (!dec && !lower && !upper) fail(Errc::bad_config, "incomplete escape \\x");
            v = v * 16 + static_cast<unsigned>(dec ? h - '0' : (lower ? h - 'a' : h - 'A') + 10);
            ++pos;
          }
          if (v >= 0x80) fail(Errc::unsupported, "non-ASCII escapes are not supported");
          ByteSet s;
          s.set(v);
          return s;
        }
        case 'b':
          if (in_class) return single('\b');
          fail(Errc::unsupported, "word boundaries (\\b, \\B) are not supported");
        case 'B':
          if (in_class) fail(Errc::bad_config, "bad escape \\B");
          fail(Errc::unsupported, "word boundaries (\\b, \\B) are not supported");
        case 'u':
        case 'U':
        case 'N':
          fail(Errc::unsupported, "Unicode escapes are not supported (names compare as bytes)");
        default: break;
      }
      if (c >= '0' && c <= '9') {
        fail(Errc::unsupported, "backreferences and octal escapes are not supported");
      }
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        fail(Errc::bad_config, std::string("bad escape \\") + c);
      }
      return single(c);  // escaped punctuation (or any other byte) stands for itself
    }

    std::uint32_t escape_atom() {
      ++pos;  // '\'
      if (at('A')) {
        ++pos;
        return node(Node{.kind = Node::Kind::begin});
      }
      if (at('Z')) {
        ++pos;
        return node(Node{.kind = Node::Kind::end});
      }
      bool is_class = false;
      return byte_node(escape_set(false, is_class));
    }

    ByteSet char_class() {
      const std::size_t open = pos++;
      const bool negate = at('^');
      if (negate) ++pos;
      ByteSet s;
      bool first = true;
      while (true) {
        if (!more()) {
          pos = open;
          fail(Errc::bad_config, "unterminated character set");
        }
        if (peek() == ']' && !first) {
          ++pos;
          break;
        }
        first = false;
        // One item: a byte, or an escape that may stand for a whole class.
        ByteSet item;
        bool is_class = false;
        unsigned lo = 0;
        if (peek() == '\\') {
          ++pos;
          item = escape_set(true, is_class);
          if (!is_class) lo = lowest(item);
        } else {
          lo = static_cast<unsigned char>(peek());
          item = single(peek());
          ++pos;
        }
        // A range lo-hi, unless the '-' is the last thing before ']'.
        if (at('-') && pos + 1 < p.size() && p[pos + 1] != ']') {
          if (is_class) fail(Errc::bad_config, "bad character range");
          ++pos;
          unsigned hi = 0;
          if (peek() == '\\') {
            ++pos;
            bool hi_class = false;
            const ByteSet h = escape_set(true, hi_class);
            if (hi_class) fail(Errc::bad_config, "bad character range");
            hi = lowest(h);
          } else {
            hi = static_cast<unsigned char>(peek());
            ++pos;
          }
          if (hi < lo) fail(Errc::bad_config, "bad character range");
          item = range(lo, hi);
        }
        s |= item;
      }
      return negate ? ~s : s;
    }
    static unsigned lowest(const ByteSet& s) {
      for (unsigned b = 0; b < 256; ++b) {
        if (s.test(b)) return b;
      }
      return 0;
    }

    // sizes[i]: the number of states emit(i) creates, saturated above the limit. Children are
    // parsed before their parents, so one pass in index order sees every child first.
    void measure() {
      const std::size_t cap = limits.max_states + 1;
      auto sat = [cap](std::size_t v) { return v < cap ? v : cap; };
      auto times = [&](std::size_t k, std::size_t v) {
        return v == 0 || k < cap / v ? sat(k * v) : cap;
      };
      sizes.resize(nodes.size());
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const Node& n = nodes[i];
        std::size_t total = 0;
        switch (n.kind) {
          case Node::Kind::empty: break;
          case Node::Kind::bytes:
          case Node::Kind::begin:
          case Node::Kind::end:
          case Node::Kind::end_line: total = 1; break;
          case Node::Kind::concat:
          case Node::Kind::alternate:
            total = n.kind == Node::Kind::alternate ? n.children.size() - 1 : 0;
            for (std::uint32_t c : n.children) total = sat(total + sizes[c]);
            break;
          case Node::Kind::repeat: {
            const std::size_t child = sizes[n.children[0]];
            if (child == 0) break;
            const std::size_t optional =
                n.max == kNever ? 1 + child : times(n.max - n.min, child + 1);
            total = sat(optional + times(n.min, child));
            break;
          }
        }
        sizes[i] = total;
      }
    }

    std::uint32_t state(State s) {
      if (re.states_.size() >= limits.max_states) {
        fail(Errc::limit_exceeded,
             "the pattern needs more than " + std::to_string(limits.max_states) + " NFA states");
      }
      re.states_.push_back(s);
      return static_cast<std::uint32_t>(re.states_.size() - 1);
    }

    // The start state of node i followed by state `next`. Recursion depth is bounded by the
    // nesting the parser allowed; total work by the state limit.
    std::uint32_t emit(std::uint32_t i, std::uint32_t next) {
      if (++work > 4 * limits.max_states) {  // many empty groups inside repeats
        fail(Errc::limit_exceeded, "the pattern is too large to compile");
      }
      const Node& n = nodes[i];
      switch (n.kind) {
        case Node::Kind::empty: return next;
        case Node::Kind::bytes: return state(State{.op = Op::bytes, .set = n.set, .next = next});
        case Node::Kind::begin: return state(State{.op = Op::begin, .next = next});
        case Node::Kind::end: return state(State{.op = Op::end, .next = next});
        case Node::Kind::end_line: return state(State{.op = Op::end_line, .next = next});
        case Node::Kind::concat: {
          std::uint32_t s = next;
          for (std::size_t k = n.children.size(); k-- > 0;) s = emit(n.children[k], s);
          return s;
        }
        case Node::Kind::alternate: {
          std::uint32_t s = emit(n.children.back(), next);
          for (std::size_t k = n.children.size() - 1; k-- > 0;) {
            const std::uint32_t branch = emit(n.children[k], next);
            s = state(State{.op = Op::split, .next = branch, .alt = s});
          }
          return s;
        }
        case Node::Kind::repeat: {
          const std::uint32_t child = n.children[0];
          const std::size_t min = n.min, max = n.max;
          if (sizes[child] == 0) return next;  // repeating nothing is nothing
          std::uint32_t s = next;
          if (max == kNever) {
            // child* : a split that either enters the child (which loops back) or leaves.
            const std::uint32_t loop = state(State{.op = Op::split});
            const std::uint32_t body = emit(child, loop);
            re.states_[loop].next = body;
            re.states_[loop].alt = next;
            s = loop;
          } else {
            for (std::size_t k = min; k < max; ++k) {  // (child (child ...)?)?
              const std::uint32_t body = emit(child, s);
              s = state(State{.op = Op::split, .next = body, .alt = next});
            }
          }
          for (std::size_t k = 0; k < min; ++k) s = emit(child, s);
          return s;
        }
      }
      return next;
    }
  };

  std::vector<State> states_;
  std::vector<ByteSet> sets_;
  std::uint32_t start_ = 0;
};

}  // namespace lorakit::detail
