# @confluentinc/kafka-javascript's addon, built for Bun by scripts/kafka-bun/build.sh: the
# package's own sources plus bun-compat.cc, linked against the librdkafka shared libraries
# that the package's Node build (CKJS_LINKING=dynamic) made, copied beside it (rdkafka/).
{
  "targets": [{
    "target_name": "confluent-kafka-javascript",
    "sources": [
      "src/binding.cc", "src/callbacks.cc", "src/common.cc", "src/config.cc", "src/connection.cc",
      "src/errors.cc", "src/kafka-consumer.cc", "src/producer.cc", "src/topic.cc", "src/workers.cc",
      "src/admin.cc", "src/bun-compat.cc"
    ],
    "include_dirs": ["<!(node -e \"require('nan')\")", "<(module_root_dir)/", "<(module_root_dir)/rdkafka/include"],
    "libraries": [
      "<(module_root_dir)/rdkafka/librdkafka.so", "<(module_root_dir)/rdkafka/librdkafka++.so",
      "-Wl,-rpath,'$$ORIGIN/../../rdkafka'"
    ],
    # Bun exports these libuv functions as stubs that abort; the addon calls pthread
    # versions in bun-compat.cc instead. DisposeGlobal: see bun-compat.cc.
    "defines": [
      "uv_rwlock_init=omniserve_uv_rwlock_init", "uv_rwlock_destroy=omniserve_uv_rwlock_destroy",
      "uv_rwlock_rdlock=omniserve_uv_rwlock_rdlock", "uv_rwlock_rdunlock=omniserve_uv_rwlock_rdunlock",
      "uv_rwlock_wrlock=omniserve_uv_rwlock_wrlock", "uv_rwlock_wrunlock=omniserve_uv_rwlock_wrunlock",
      "uv_rwlock_tryrdlock=omniserve_uv_rwlock_tryrdlock", "uv_rwlock_trywrlock=omniserve_uv_rwlock_trywrlock",
      "uv_thread_create=omniserve_uv_thread_create", "uv_thread_join=omniserve_uv_thread_join",
      # Bun's DisposeGlobal leaves the object held: bun-compat.cc's wraps it and lets it go.
      "DisposeGlobal=omniserve_DisposeGlobal"
    ],
    "cflags_cc": ["-std=c++20", "-Wno-deprecated-declarations", "-Wno-ignored-qualifiers", "-Wno-unused-variable"],
    "cflags_cc!": ["-fno-rtti"]
  }]
}
