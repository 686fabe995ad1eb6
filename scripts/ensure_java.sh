#!/usr/bin/env bash
# Spark (aeops score --engine spark, tests/integration/test_spark.py) needs a Java 17+
# runtime. CI calls this before `make setup`: a machine without one gets Debian's headless JRE
# when it may install packages; otherwise it says what to install.
set -euo pipefail
if command -v java >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null
  java -version
else
  echo "no Java runtime: Spark scoring needs one (e.g. apt-get install default-jre-headless)" >&2
  exit 1
fi
