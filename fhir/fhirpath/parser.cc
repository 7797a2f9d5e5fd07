// FHIRPath parser: precedence climbing over the FHIRPath 2.0 grammar, plus the static
// checks that need no model (function names and arities, type names).
#include <set>
#include <utility>
#include <vector>

#include "fhir/fhirpath/ast.h"
#include "fhir/fhirpath/engine.h"
#include "fhir/fhirpath/functions.h"
#include "fhir/fhirpath/lexer.h"
#include "fhir/fhirpath/model.h"

namespace fhir::fhirpath {
namespace {

using internal::Lexer;
using internal::Node;
using internal::NodeKind;
using internal::Op;
using internal::Tok;
using internal::Token;

constexpr size_t kMaxExpressionLength = 64 * 1024;
constexpr int kMaxNesting = 200;       // parenthesis / argument / unary nesting
constexpr size_t kMaxTreeDepth = 800;  // also bounds left-deep chains (a.b.c..., 1+1+...)

struct ParseFailure {
  size_t pos;
  std::string message;
};

bool IsSystemTypeName(std::string_view n) {
  static const std::set<std::string_view> kNames = {
      "Boolean", "Integer", "Long", "Decimal", "String", "Date", "DateTime", "Time", "Quantity"};
  return kNames.count(n) > 0;
}

bool IsCalendarUnit(std::string_view w) {
  static const std::set<std::string_view> kWords = {
      "year", "years", "month",  "months",  "week",   "weeks",   "day",         "days",
      "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};
  return kWords.count(w) > 0;
}

class Parser {
 public:
  explicit Parser(std::string_view src) : lex_(src) { Advance(); }

  std::unique_ptr<Node> ParseAll() {
    auto n = ParseExpr(0);
    if (tok_.type != Tok::kEnd) Fail(tok_.pos, "unexpected '" + tok_.text + "'");
    return n;
  }

 private:
  [[noreturn]] void Fail(size_t pos, std::string msg) { throw ParseFailure{pos, std::move(msg)}; }

  void Advance() {
    tok_ = lex_.Next();
    if (tok_.type == Tok::kError) Fail(tok_.pos, tok_.text);
  }
  bool IsOp(const char* op) const { return tok_.type == Tok::kOp && tok_.text == op; }
  bool IsKeyword(const char* kw) const {
    return tok_.type == Tok::kIdentifier && !tok_.delimited && tok_.text == kw;
  }
  void Expect(const char* op) {
    if (!IsOp(op)) Fail(tok_.pos, std::string("expected '") + op + "'" + Found());
    Advance();
  }
  std::string Found() const {
    if (tok_.type == Tok::kEnd) return " but the expression ended";
    return " but found '" + tok_.text + "'";
  }

  // Binary operator at the current token: precedence (higher binds tighter) or 0.
  int BinaryPrecedence(Op* op) const {
    if (tok_.type == Tok::kOp) {
      const std::string& t = tok_.text;
      if (t == "*") {
        *op = Op::kMul;
        return 10;
      }
      if (t == "/") {
        *op = Op::kDiv;
        return 10;
      }
      if (t == "+") {
        *op = Op::kPlus;
        return 9;
      }
      if (t == "-") {
        *op = Op::kMinus;
        return 9;
      }
      if (t == "&") {
        *op = Op::kConcat;
        return 9;
      }
      if (t == "|") {
        *op = Op::kUnion;
        return 7;
      }
      if (t == "<") {
        *op = Op::kLt;
        return 6;
      }
      if (t == "<=") {
        *op = Op::kLe;
        return 6;
      }
      if (t == ">") {
        *op = Op::kGt;
        return 6;
      }
      if (t == ">=") {
        *op = Op::kGe;
        return 6;
      }
      if (t == "=") {
        *op = Op::kEq;
        return 5;
      }
      if (t == "!=") {
        *op = Op::kNe;
        return 5;
      }
      if (t == "~") {
        *op = Op::kEquiv;
        return 5;
      }
      if (t == "!~") {
        *op = Op::kNotEquiv;
        return 5;
      }
      return 0;
    }
    if (tok_.type != Tok::kIdentifier || tok_.delimited) return 0;
    const std::string& t = tok_.text;
    if (t == "div") {
      *op = Op::kIntDiv;
      return 10;
    }
    if (t == "mod") {
      *op = Op::kMod;
      return 10;
    }
    if (t == "is") {
      *op = Op::kIs;
      return 8;
    }
    if (t == "as") {
      *op = Op::kAs;
      return 8;
    }
    if (t == "in") {
      *op = Op::kIn;
      return 4;
    }
    if (t == "contains") {
      *op = Op::kContains;
      return 4;
    }
    if (t == "and") {
      *op = Op::kAnd;
      return 3;
    }
    if (t == "or") {
      *op = Op::kOr;
      return 2;
    }
    if (t == "xor") {
      *op = Op::kXor;
      return 2;
    }
    if (t == "implies") {
      *op = Op::kImplies;
      return 1;
    }
    return 0;
  }

  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p_(p) {
      if (++p_->depth_ > kMaxNesting) p_->Fail(p_->tok_.pos, "expression nested too deeply");
    }
    ~DepthGuard() { --p_->depth_; }
    Parser* p_;
  };

  std::unique_ptr<Node> ParseExpr(int min_prec) {
    DepthGuard guard(this);
    auto left = ParseUnary();
    for (;;) {
      Op op;
      int prec = BinaryPrecedence(&op);
      if (prec == 0 || prec <= min_prec - 1 || prec < min_prec) break;
      size_t pos = tok_.pos;
      Advance();
      auto n = std::make_unique<Node>();
      n->pos = pos;
      n->op = op;
      if (op == Op::kIs || op == Op::kAs) {
        n->kind = NodeKind::kTypeOp;
        n->type = ParseTypeSpecifier();
        n->args.push_back(std::move(left));
      } else {
        n->kind = NodeKind::kBinary;
        n->args.push_back(std::move(left));
        n->args.push_back(ParseExpr(prec + 1));
        if (op == Op::kUnion) FoldUnion(n.get());
      }
      left = std::move(n);
    }
    return left;
  }

  // Folds a union whose operands are literals or folded unions of strings/integers/codes.
  static void FoldUnion(Node* n) {
    Collection items;
    for (const auto& a : n->args) {
      const Node* x = a.get();
      while (x->kind == NodeKind::kParen) x = x->args[0].get();
      if (x->kind == NodeKind::kLiteral &&
          (x->literal.kind() == ValueKind::kString || x->literal.kind() == ValueKind::kInteger ||
           x->literal.kind() == ValueKind::kBoolean)) {
        items.push_back(x->literal);
      } else if (x->folded) {
        items.insert(items.end(), x->folded->begin(), x->folded->end());
      } else {
        return;
      }
    }
    Collection out;
    for (Item& i : items) {
      bool dup = false;
      for (const Item& o : out) {
        if (o.kind() == i.kind() && o.ToText() == i.ToText()) dup = true;
      }
      if (!dup) out.push_back(std::move(i));
    }
    n->folded = std::move(out);
  }

  internal::TypeRef ParseTypeSpecifier() {
    size_t pos = tok_.pos;
    if (tok_.type != Tok::kIdentifier) Fail(tok_.pos, "expected a type name" + Found());
    internal::TypeRef t;
    t.name = tok_.text;
    Advance();
    if (IsOp(".")) {
      Advance();
      if (tok_.type != Tok::kIdentifier) Fail(tok_.pos, "expected a type name" + Found());
      t.ns = t.name;
      t.name = tok_.text;
      Advance();
    }
    CheckType(t, pos);
    return t;
  }

  void CheckType(const internal::TypeRef& t, size_t pos) {
    if (t.ns == "System") return;  // unknown System types simply never match
    bool fhir = model::FindType(t.name) != nullptr || model::IsResourceName(t.name);
    if (t.ns == "FHIR") {
      if (!fhir) Fail(pos, "unknown FHIR type '" + t.name + "'");
      return;
    }
    if (!t.ns.empty()) Fail(pos, "unknown type namespace '" + t.ns + "'");
    if (!fhir && !IsSystemTypeName(t.name)) Fail(pos, "unknown type '" + t.name + "'");
  }

  std::unique_ptr<Node> ParseUnary() {
    if (IsOp("+") || IsOp("-")) {
      DepthGuard guard(this);
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::kUnary;
      n->pos = tok_.pos;
      n->op = tok_.text == "+" ? Op::kPlus : Op::kMinus;
      Advance();
      n->args.push_back(ParseUnary());
      return n;
    }
    return ParsePostfix();
  }

  std::unique_ptr<Node> ParsePostfix() {
    auto left = ParseTerm();
    for (;;) {
      if (IsOp(".")) {
        size_t pos = tok_.pos;
        Advance();
        if (tok_.type != Tok::kIdentifier) Fail(tok_.pos, "expected a name after '.'" + Found());
        auto right = ParseInvocation();
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kInvoke;
        n->pos = pos;
        n->args.push_back(std::move(left));
        n->args.push_back(std::move(right));
        left = std::move(n);
      } else if (IsOp("[")) {
        size_t pos = tok_.pos;
        Advance();
        auto idx = ParseExpr(0);
        Expect("]");
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kIndexer;
        n->pos = pos;
        n->args.push_back(std::move(left));
        n->args.push_back(std::move(idx));
        left = std::move(n);
      } else {
        return left;
      }
    }
  }

  // identifier or function call; the current token is an identifier.
  std::unique_ptr<Node> ParseInvocation() {
    auto n = std::make_unique<Node>();
    n->pos = tok_.pos;
    n->name = tok_.text;
    bool delimited = tok_.delimited;
    Advance();
    if (!delimited && IsOp("(")) {
      DepthGuard guard(this);
      n->kind = NodeKind::kFunction;
      n->fn = internal::FindFunction(n->name);
      if (n->fn < 0) Fail(n->pos, "unknown function '" + n->name + "'");
      Advance();
      if (!IsOp(")")) {
        for (;;) {
          n->args.push_back(ParseExpr(0));
          if (IsOp(",")) {
            Advance();
            continue;
          }
          break;
        }
      }
      Expect(")");
      const internal::FnInfo& info = internal::FunctionInfo(n->fn);
      int argc = static_cast<int>(n->args.size());
      if (argc < info.min_args || argc > info.max_args) {
        Fail(n->pos, "wrong number of arguments to " + n->name + "()");
      }
      if (n->fn == internal::kOfType || n->fn == internal::kAsFn || n->fn == internal::kIsFn) {
        n->type = TypeFromArg(*n->args[0]);
        CheckType(n->type, n->args[0]->pos);
      }
      return n;
    }
    n->kind = NodeKind::kMember;
    return n;
  }

  internal::TypeRef TypeFromArg(const Node& a) {
    internal::TypeRef t;
    if (a.kind == NodeKind::kMember) {
      t.name = a.name;
      return t;
    }
    if (a.kind == NodeKind::kInvoke && a.args[0]->kind == NodeKind::kMember &&
        a.args[1]->kind == NodeKind::kMember) {
      t.ns = a.args[0]->name;
      t.name = a.args[1]->name;
      return t;
    }
    Fail(a.pos, "expected a type name");
  }

  std::unique_ptr<Node> ParseTerm() {
    auto n = std::make_unique<Node>();
    n->pos = tok_.pos;
    switch (tok_.type) {
      case Tok::kEnd:
        Fail(tok_.pos, "unexpected end of expression");
      case Tok::kNumber:
      case Tok::kLong: {
        std::string text = tok_.text;
        bool is_long = tok_.type == Tok::kLong;
        Advance();
        n->kind = NodeKind::kLiteral;
        // Quantity: number followed by a unit string or calendar word.
        if (!is_long &&
            (tok_.type == Tok::kString ||
             (tok_.type == Tok::kIdentifier && !tok_.delimited && IsCalendarUnit(tok_.text)))) {
          auto d = Decimal::Parse(text);
          if (!d) Fail(n->pos, "bad number");
          Quantity q{*d, tok_.text, tok_.type == Tok::kIdentifier};
          Advance();
          n->literal = Item::Qty(q);
          return n;
        }
        if (text.find('.') != std::string::npos) {
          auto d = Decimal::Parse(text);
          if (!d) Fail(n->pos, "decimal literal out of range");
          n->literal = Item::Dec(*d);
        } else {
          auto d = Decimal::Parse(text);
          if (!d || d->units() > INT64_MAX) Fail(n->pos, "integer literal out of range");
          n->literal = Item::Integer(static_cast<int64_t>(d->units()));
        }
        return n;
      }
      case Tok::kString:
        n->kind = NodeKind::kLiteral;
        n->literal = Item::String(tok_.text);
        Advance();
        return n;
      case Tok::kDateTime: {
        bool has_time = tok_.text.find('T') != std::string::npos;
        auto t =
            Temporal::Parse(tok_.text, has_time ? TemporalKind::kDateTime : TemporalKind::kDate);
        if (!t) Fail(tok_.pos, "invalid date/time literal @" + tok_.text);
        n->kind = NodeKind::kLiteral;
        n->literal = Item::Temp(*t);
        Advance();
        return n;
      }
      case Tok::kTime: {
        auto t = Temporal::Parse(tok_.text, TemporalKind::kTime);
        if (!t) Fail(tok_.pos, "invalid time literal @T" + tok_.text);
        n->kind = NodeKind::kLiteral;
        n->literal = Item::Temp(*t);
        Advance();
        return n;
      }
      case Tok::kVariable:
        n->kind = NodeKind::kVariable;
        n->name = tok_.text;
        Advance();
        return n;
      case Tok::kSpecial:
        n->kind = tok_.text == "this"    ? NodeKind::kThis
                  : tok_.text == "index" ? NodeKind::kIndex
                                         : NodeKind::kTotal;
        Advance();
        return n;
      case Tok::kOp:
        if (IsOp("(")) {
          Advance();
          n->kind = NodeKind::kParen;
          n->args.push_back(ParseExpr(0));
          Expect(")");
          return n;
        }
        if (IsOp("{")) {
          Advance();
          Expect("}");
          n->kind = NodeKind::kEmpty;
          return n;
        }
        Fail(tok_.pos, "unexpected '" + tok_.text + "'");
      case Tok::kIdentifier:
        if (!tok_.delimited && (tok_.text == "true" || tok_.text == "false")) {
          n->kind = NodeKind::kLiteral;
          n->literal = Item::Boolean(tok_.text == "true");
          Advance();
          return n;
        }
        return ParseInvocation();
      default:
        Fail(tok_.pos, "unexpected token");
    }
  }

  Lexer lex_;
  Token tok_;
  int depth_ = 0;
};

}  // namespace

CompileResult Compile(std::string_view text) {
  CompileResult r;
  if (text.size() > kMaxExpressionLength) {
    r.error = SyntaxError{kMaxExpressionLength, "expression longer than 64 KiB"};
    return r;
  }
  try {
    Parser p(text);
    auto root = p.ParseAll();
    // Depth of the tree, iteratively (the evaluator recurses along it).
    std::vector<std::pair<const Node*, size_t>> work{{root.get(), 1}};
    while (!work.empty()) {
      auto [node, depth] = work.back();
      work.pop_back();
      if (depth > kMaxTreeDepth) {
        r.error = SyntaxError{node->pos, "expression nested too deeply"};
        return r;
      }
      for (const auto& a : node->args) work.emplace_back(a.get(), depth + 1);
    }
    Expression e;
    e.root_ = std::shared_ptr<const Node>(root.release());
    e.text_ = std::string(text);
    r.expression = std::move(e);
  } catch (const ParseFailure& f) {
    r.error = SyntaxError{f.pos, f.message};
  }
  return r;
}

}  // namespace fhir::fhirpath
