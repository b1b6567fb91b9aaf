;; Builds the topology jar for `sparse` (windowed bolts checked on real Storm).
(defproject squall-windows-check "0.0.1-SNAPSHOT"
  :resource-paths ["_resources"]
  :target-path "_build"
  :min-lein-version "2.0.0"
  :jvm-opts ["-client"]
  :repositories [["debian" {:url "file:///usr/share/maven-repo" :snapshots false :checksum :ignore}]]
  :managed-dependencies [[org.apache.storm/storm-clojure "2.8.3" :exclusions [org.clojars.bipinprasad/carbonite]]]
  :dependencies [[org.apache.storm/storm-core "2.8.3"]]
  :jar-exclusions [#"^(?!resources/)"]
  :uberjar-merge-with ^:replace {}
  :uberjar-exclusions [#"^(?!resources/)"])
