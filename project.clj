;; Builds the topology jar that `sparse run` / `sparse submit` ship to Storm: the Python code
;; (sparse copies src/ into _resources/resources/) and the MessagePack multilang serializer. Storm itself comes from the cluster's
;; STORM_HOME (`make storm-runtime`), so everything but resources/ is left out of both jars.
;;
;; - storm-core must appear as exactly [org.apache.storm/storm-core "X"] in `lein deps :tree`:
;;   `sparse run` compares X with `storm version` using that pattern, so the dependency carries
;;   no :scope or :exclusions of its own.
;; - storm-clojure (a storm-core dependency) needs carbonite, hosted only on Clojars: the managed
;;   dependency below excludes it everywhere. Java and multilang topologies do not use it.
;; - Debian's leiningen resolves its own nREPL tooling from Clojars; the Debian repository under
;;   /usr/share/maven-repo (installed with it) serves those jars instead.
;; - squall's Java, squall.storm.MsgpackSerializer and its codec, and the fused bolts' names
;;   (FusedNames, FusedJsonSerializer; src/squall/storm/jvm; no
;;   library: `sparse submit` ships the plain jar, which holds no dependencies), is compiled
;;   into both jars: with "serializer": "msgpack" in config.json it is the JVM side of
;;   multilang (docs/storm.md), on every worker the jar reaches.
;; - Flux (what `sparse run` starts) is not bundled: its parent pom is missing on Maven Central,
;;   so the storm launcher adds $STORM_HOME/lib-flux to the classpath instead.
(defproject squall "0.1.0"
  :resource-paths ["_resources"]
  :target-path "_build"
  :min-lein-version "2.0.0"
  :jvm-opts ["-client"]
  :repositories [["debian" {:url "file:///usr/share/maven-repo" :snapshots false :checksum :ignore}]]
  :managed-dependencies [[org.apache.storm/storm-clojure "2.8.3" :exclusions [org.clojars.bipinprasad/carbonite]]]
  :java-source-paths ["src/squall/storm/jvm"]
  :javac-options ["-nowarn" "--release" "11"]
  :dependencies [[org.apache.storm/storm-core "2.8.3"]]
  :jar-exclusions [#"^(?!resources/|squall/storm/(Msgpack|Multilang|Fused))"]
  ;; Without this, lein merges every dependency's META-INF/services into the uberjar, and Storm
  ;; would load service classes (e.g. storm-clojure's) that are not on its classpath.
  :uberjar-merge-with ^:replace {}
  :uberjar-exclusions [#"^(?!resources/|squall/storm/(Msgpack|Multilang|Fused))"])
