#include "config/json_positions.h"

#include <vector>

namespace geodns::config {

std::string jsonPointerEscape(const std::string& token) {
  std::string out;
  for (char ch : token) {
    if (ch == '~')
      out += "~0";
    else if (ch == '/')
      out += "~1";
    else
      out.push_back(ch);
  }
  return out;
}

namespace {

struct Frame {
  bool object;
  std::string pointer;  // of the container itself
  std::string key;      // object: the current key
  long index = -1;      // array: the current element
  bool expectKey = true;
};

}  // namespace

JsonPositions jsonPositions(const std::string& text) {
  JsonPositions out;
  std::vector<Frame> stack;
  int line = 1, col = 1;
  std::size_t i = 0;
  auto advance = [&]() {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
    ++i;
  };
  auto readString = [&]() {  // at the opening quote; returns the (roughly) unescaped text
    std::string s;
    advance();
    while (i < text.size() && text[i] != '"') {
      if (text[i] == '\\' && i + 1 < text.size()) {
        advance();
        char e = text[i];
        s.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
      } else {
        s.push_back(text[i]);
      }
      advance();
    }
    if (i < text.size()) advance();
    return s;
  };
  auto valuePointer = [&]() -> std::string {
    if (stack.empty()) return "";
    Frame& f = stack.back();
    if (f.object) return f.pointer + "/" + jsonPointerEscape(f.key);
    return f.pointer + "/" + std::to_string(f.index);
  };
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ':') {
      advance();
      continue;
    }
    if (c == ',') {
      if (!stack.empty()) {
        if (stack.back().object)
          stack.back().expectKey = true;
        else
          ++stack.back().index;
      }
      advance();
      continue;
    }
    if (c == '}' || c == ']') {
      if (!stack.empty()) stack.pop_back();
      advance();
      continue;
    }
    if (!stack.empty() && stack.back().object && stack.back().expectKey && c == '"') {
      stack.back().key = readString();
      stack.back().expectKey = false;
      continue;
    }
    // A value starts here.
    std::string ptr = valuePointer();
    out.emplace(ptr, std::make_pair(line, col));
    if (c == '{' || c == '[') {
      Frame f{c == '{', ptr, "", c == '[' ? 0 : -1, true};
      stack.push_back(f);
      advance();
      if (c == '[') {  // an empty array has no element 0
        std::size_t j = i;
        while (j < text.size() &&
               (text[j] == ' ' || text[j] == '\n' || text[j] == '\t' || text[j] == '\r'))
          ++j;
        if (j < text.size() && text[j] == ']') stack.back().index = -1;
      }
      continue;
    }
    if (c == '"') {
      readString();
      continue;
    }
    while (i < text.size() && text[i] != ',' && text[i] != '}' && text[i] != ']' &&
           text[i] != '\n' && text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
      advance();
  }
  return out;
}

}  // namespace geodns::config
