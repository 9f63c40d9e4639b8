// Lets Catch2 print boost::system::result<T> whose T has no operator<< (it prints the error).
#pragma once

#include <boost/system/result.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace Catch {
template <class T, class E> struct StringMaker<boost::system::result<T, E>> {
  static std::string convert(const boost::system::result<T, E>& r) {
    return r.has_value() ? std::string("{value}") : "{error: " + r.error().message() + "}";
  }
};
}  // namespace Catch
