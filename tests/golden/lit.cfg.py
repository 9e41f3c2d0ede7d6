# lit configuration for dlc's golden tests: each test runs the dlc driver on
# an input and checks its output with FileCheck or diff.
import os
import lit.formats

config.name = "dlc-golden"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".net", ".ir", ".test"]
config.excludes = ["Inputs", "expected"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.dlc_build_dir, "tests", "golden")

config.substitutions.append(("%dlc", os.path.join(config.dlc_build_dir, "tools", "dlc", "dlc")))
config.substitutions.append(("%python", config.python))
config.substitutions.append(("%scripts", os.path.join(config.dlc_source_dir, "scripts")))
config.substitutions.append(("%examples", os.path.join(config.dlc_source_dir, "examples")))
config.substitutions.append(("%abi_include", os.path.join(config.dlc_source_dir, "runtime", "include")))
# The compile cache of the tests (tests/CMakeLists.txt), never ~/.cache.
config.environment["DLC_CACHE_DIR"] = os.environ.get("DLC_CACHE_DIR", os.path.join(config.dlc_build_dir, "tests", "compile-cache"))
config.environment["PATH"] = os.pathsep.join([config.llvm_tools_dir, config.environment.get("PATH", "")])
