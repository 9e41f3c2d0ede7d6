//===- support/Gnuplot.cpp ------------------------------------------------===//
#include "support/Gnuplot.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace dlc {

bool plotWithGnuplot(const std::string &png,
                     const std::function<void(std::ostream &, std::ostream &, const std::string &)> &write,
                     std::string &error) {
  std::string stem = png + ".tmp", data = stem + ".dat", script = stem + ".gp";
  {
    std::ofstream d(data), g(script);
    write(d, g, data);
    if (!d || !g) {
      error = "cannot write " + stem + ".*";
      return false;
    }
  }
  std::string command = "gnuplot '" + script + "' 2>&1";
  int status = std::system(command.c_str());
  std::remove(data.c_str());
  std::remove(script.c_str());
  if (status != 0) {
    error = "gnuplot failed (exit " + std::to_string(status) + "); is it installed? (apt install gnuplot-nox)";
    return false;
  }
  return true;
}

} // namespace dlc
