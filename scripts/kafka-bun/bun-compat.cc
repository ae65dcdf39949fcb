/*
 * omniserve: what @confluentinc/kafka-javascript's addon needs of Node's C++ API and Bun
 * does not provide (Bun 1.4.5 implements part of the V8 API for nan addons).
 *
 * Compiled only into the Bun build (scripts/kafka-bun/build.sh), never into Node's.
 *
 * 1. Fifteen V8/Node functions that Bun does not export, written here on the V8 functions
 *    it does export, or on JavaScript built-ins called through them (Reflect.has,
 *    Object.keys, Buffer.from, ...). A Bun that exports one of them wins over the copy
 *    here (the executable's symbols come first in the dynamic linker's lookup).
 * 2. libuv's rwlock and thread functions, which Bun exports as stubs that abort
 *    ("unsupported uv function"): the build renames the addon's calls (-Duv_rwlock_...=
 *    omniserve_uv_rwlock_...) to the pthread versions below, as libuv itself is on Unix.
 * 3. v8::api_internal::DisposeGlobal, renamed the same way: Bun's leaves what a persistent
 *    handle held alive for good (see "Global handles" below).
 */
#include <node.h>
#include <node_buffer.h>
#include <uv.h>
#include <v8.h>

#include <pthread.h>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace {

/** In a `const v8::Value` method, `this` is the handle's slot: the Local that holds it. */
template <typename T>
v8::Local<T> Self(const void* self) {
  static_assert(sizeof(v8::Local<T>) == sizeof(void*), "a Local is one slot pointer");
  v8::Local<T> out;
  std::memcpy(static_cast<void*>(&out), &self, sizeof self);
  return out;
}

v8::Local<v8::String> Str(v8::Isolate* isolate, const char* s) {
  return v8::String::NewFromUtf8(isolate, s, v8::NewStringType::kNormal, -1).ToLocalChecked();
}

/** `globalThis[a]` or `globalThis[a][b]`. */
v8::MaybeLocal<v8::Value> GlobalGet(v8::Local<v8::Context> ctx, const char* a, const char* b = nullptr) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Value> v;
  if (!ctx->Global()->Get(ctx, Str(isolate, a)).ToLocal(&v)) return {};
  if (b == nullptr) return v;
  if (!v->IsObject()) return {};
  return v.As<v8::Object>()->Get(ctx, Str(isolate, b));
}

/** Calls `globalThis[a][b]` (or `globalThis[a]`) with `recv` and `args`. */
v8::MaybeLocal<v8::Value> CallGlobal(v8::Local<v8::Context> ctx, v8::Local<v8::Value> recv, int argc,
                                     v8::Local<v8::Value>* argv, const char* a, const char* b = nullptr) {
  v8::Local<v8::Value> fn;
  if (!GlobalGet(ctx, a, b).ToLocal(&fn) || !fn->IsFunction()) return {};
  return fn.As<v8::Function>()->Call(ctx, recv, argc, argv);
}

/** The bytes of a Uint8Array (a Buffer): its ArrayBuffer's memory plus its offset. */
char* ViewData(v8::Local<v8::Value> val) {
  if (!val->IsUint8Array()) return nullptr;
  v8::Local<v8::ArrayBufferView> view = val.As<v8::ArrayBufferView>();
  void* base = view->Buffer()->GetBackingStore()->Data();
  return base == nullptr ? nullptr : static_cast<char*>(base) + view->ByteOffset();
}

/** A new Buffer holding a copy of `data`. */
v8::MaybeLocal<v8::Object> CopyToBuffer(v8::Isolate* isolate, const char* data, size_t length) {
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::ArrayBuffer> ab =
      v8::ArrayBuffer::New(isolate, length, v8::BackingStoreInitializationMode::kUninitialized);
  if (length > 0) std::memcpy(ab->GetBackingStore()->Data(), data, length);
  v8::Local<v8::Value> args[] = {ab};
  v8::Local<v8::Value> buffer;
  if (!GlobalGet(ctx, "Buffer").ToLocal(&buffer) ||
      !CallGlobal(ctx, buffer, 1, args, "Buffer", "from").ToLocal(&buffer) || !buffer->IsObject()) {
    return {};
  }
  return buffer.As<v8::Object>();
}

struct ThreadStart {
  uv_thread_cb entry;
  void* arg;
};

void* RunThread(void* p) {
  ThreadStart start = *static_cast<ThreadStart*>(p);
  delete static_cast<ThreadStart*>(p);
  start.entry(start.arg);
  return nullptr;
}

}  // namespace

// ---- V8 ----

v8::MaybeLocal<v8::Object> v8::Value::ToObject(v8::Local<v8::Context> ctx) const {
  if (IsObject()) return Self<v8::Object>(this);
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (IsNullOrUndefined()) {
    isolate->ThrowException(v8::Exception::TypeError(Str(isolate, "Cannot convert undefined or null to object")));
    return {};
  }
  v8::Local<v8::Value> args[] = {Self<v8::Value>(this)};
  v8::Local<v8::Value> out;
  if (!CallGlobal(ctx, v8::Undefined(isolate), 1, args, "Object").ToLocal(&out) || !out->IsObject()) return {};
  return out.As<v8::Object>();
}

bool v8::Value::BooleanValue(v8::Isolate* isolate) const {
  if (IsBoolean()) return IsTrue();
  if (IsNullOrUndefined()) return false;
  if (IsNumber()) {
    double d = Self<v8::Number>(this)->Value();
    return d != 0 && !std::isnan(d);
  }
  if (IsString()) return Self<v8::String>(this)->Length() > 0;
  if (IsObject()) return true;
  // BigInt, Symbol: ask JavaScript.
  v8::Local<v8::Value> args[] = {Self<v8::Value>(this)};
  v8::Local<v8::Value> out;
  return CallGlobal(isolate->GetCurrentContext(), v8::Undefined(isolate), 1, args, "Boolean").ToLocal(&out) &&
         out->IsTrue();
}

v8::Maybe<int64_t> v8::Value::IntegerValue(v8::Local<v8::Context> ctx) const {
  double d;
  if (IsNumber()) {
    d = Self<v8::Number>(this)->Value();
  } else {
    v8::Isolate* isolate = v8::Isolate::GetCurrent();
    v8::Local<v8::Value> args[] = {Self<v8::Value>(this)};
    v8::Local<v8::Value> out;
    if (!CallGlobal(ctx, v8::Undefined(isolate), 1, args, "Number").ToLocal(&out) || !out->IsNumber()) {
      return v8::Nothing<int64_t>();
    }
    d = out.As<v8::Number>()->Value();
  }
  // V8's NumberToInt64.
  if (std::isnan(d)) return v8::Just<int64_t>(0);
  if (d >= 9223372036854775807.0) return v8::Just(std::numeric_limits<int64_t>::max());
  if (d <= -9223372036854775808.0) return v8::Just(std::numeric_limits<int64_t>::min());
  return v8::Just(static_cast<int64_t>(d));
}

v8::Maybe<int32_t> v8::Value::Int32Value(v8::Local<v8::Context> ctx) const {
  v8::Local<v8::Int32> i;
  if (!ToInt32(ctx).ToLocal(&i)) return v8::Nothing<int32_t>();
  return v8::Just(i->Value());
}

bool v8::Value::IsRegExp() const {
  if (!IsObject()) return false;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::Value> toString, tag;
  if (!GlobalGet(ctx, "Object", "prototype").ToLocal(&toString) || !toString->IsObject() ||
      !toString.As<v8::Object>()->Get(ctx, Str(isolate, "toString")).ToLocal(&toString) ||
      !toString->IsFunction() ||
      !toString.As<v8::Function>()->Call(ctx, Self<v8::Value>(this), 0, nullptr).ToLocal(&tag)) {
    return false;
  }
  return tag->StrictEquals(Str(isolate, "[object RegExp]"));
}

v8::Local<v8::String> v8::RegExp::GetSource() const {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::Value> source;
  if (Self<v8::Object>(this)->Get(ctx, Str(isolate, "source")).ToLocal(&source) && source->IsString()) {
    return source.As<v8::String>();
  }
  return Str(isolate, "");
}

v8::Maybe<bool> v8::Object::Has(v8::Local<v8::Context> ctx, v8::Local<v8::Value> key) {
  v8::Local<v8::Value> args[] = {Self<v8::Value>(this), key};
  v8::Local<v8::Value> out;
  if (!CallGlobal(ctx, v8::Undefined(v8::Isolate::GetCurrent()), 2, args, "Reflect", "has").ToLocal(&out)) {
    return v8::Nothing<bool>();
  }
  return v8::Just(out->IsTrue());
}

// V8's default (ONLY_ENUMERABLE | SKIP_SYMBOLS) is Object.keys, except that V8 gives integer
// keys as numbers and Object.keys as strings: the addon turns every key into a string.
v8::MaybeLocal<v8::Array> v8::Object::GetOwnPropertyNames(v8::Local<v8::Context> ctx) {
  v8::Local<v8::Value> args[] = {Self<v8::Value>(this)};
  v8::Local<v8::Value> out;
  if (!CallGlobal(ctx, v8::Undefined(v8::Isolate::GetCurrent()), 1, args, "Object", "keys").ToLocal(&out) ||
      !out->IsArray()) {
    return {};
  }
  return out.As<v8::Array>();
}

// ---- Global handles (renamed by the build: Bun's own leaves the object held) ----

// Bun's DisposeGlobal forgets a global handle's weak-callback bookkeeping but leaves the
// handle itself in the isolate's handle buffer, still a strong GC root: everything a
// Nan::Persistent ever held stays alive after its Reset(). The addon makes persistents per
// produced message (the delivery-report opaque, {resolve, reject} of a pending promise) and
// per consume() call (the callback, whose closure holds the promise that resolved with the
// fetched messages), so on Bun every message and its Buffers were kept for good: seen as
// ~3 KiB per event in `omniserve stream` (test/stream/scale.test.ts: +200 MiB RSS over
// ~60,000 events; after a full GC 63,000 Uint8Arrays and 32,000 Promises still live at rest).
//
// The build renames the addon's calls (-DDisposeGlobal=omniserve_DisposeGlobal); this one
// lets Bun do its part, then overwrites the handle's tagged value with Smi 0, so the GC no
// longer traces the object (V8's own Reset() likewise leaves the slot holding nothing). Only
// a slot laid out as Bun creates them for objects (the tagged pointer to the object layout
// right after it, strong tag 1) is cleared: the shared null/undefined/true/false slots and
// Smi or weak handles are left alone. The handle's own 24 bytes stay allocated (Bun never
// reuses them): a far smaller leak, 24 bytes per produced message instead of the message.
// Measured (2-core shared machine): the Bun process of scale.test.ts peaked at 354-403 MiB
// over 7 runs before, 289-334 MiB over 10 runs after; a producer-only probe of 300,000
// messages grew 55 -> 187 MiB with 300,000 promises live after a full GC before, 55 ->
// 82 MiB with none after.
extern void BunDisposeGlobal(v8::internal::Address* location) __asm__("_ZN2v812api_internal13DisposeGlobalEPm");

void v8::api_internal::DisposeGlobal(v8::internal::Address* location) {
  if (location == nullptr) return;
  BunDisposeGlobal(location);
  const v8::internal::Address self = reinterpret_cast<v8::internal::Address>(location + 1) | 1;
  if (*location == self) __atomic_store_n(location, static_cast<v8::internal::Address>(0), __ATOMIC_RELEASE);
}

// ---- node::Buffer and node::TryEncode ----

bool node::Buffer::HasInstance(v8::Local<v8::Value> val) { return val->IsUint8Array(); }
char* node::Buffer::Data(v8::Local<v8::Value> val) { return ViewData(val); }
char* node::Buffer::Data(v8::Local<v8::Object> val) { return ViewData(val); }
size_t node::Buffer::Length(v8::Local<v8::Value> val) {
  return val->IsUint8Array() ? val.As<v8::ArrayBufferView>()->ByteLength() : 0;
}
size_t node::Buffer::Length(v8::Local<v8::Object> val) { return Length(val.As<v8::Value>()); }

// Node takes ownership of `data` (free()d when the Buffer is collected); here it is copied
// into a new Buffer and freed at once.
v8::MaybeLocal<v8::Object> node::Buffer::New(v8::Isolate* isolate, char* data, size_t length) {
  v8::MaybeLocal<v8::Object> out = CopyToBuffer(isolate, data, length);
  std::free(data);
  return out;
}

v8::MaybeLocal<v8::Value> node::TryEncode(v8::Isolate* isolate, const char* buf, size_t len,
                                          node::encoding encoding) {
  if (encoding == node::UTF8 && len <= static_cast<size_t>(std::numeric_limits<int>::max())) {
    return v8::String::NewFromUtf8(isolate, buf, v8::NewStringType::kNormal, static_cast<int>(len));
  }
  if (encoding == node::LATIN1 && len <= static_cast<size_t>(std::numeric_limits<int>::max())) {
    return v8::String::NewFromOneByte(isolate, reinterpret_cast<const uint8_t*>(buf), v8::NewStringType::kNormal,
                                      static_cast<int>(len));
  }
  v8::Local<v8::Object> buffer;
  if (!CopyToBuffer(isolate, buf, len).ToLocal(&buffer)) return {};
  if (encoding == node::BUFFER) return buffer;
  const char* name = encoding == node::ASCII ? "ascii" : encoding == node::BASE64 ? "base64"
                   : encoding == node::UCS2 ? "ucs2" : encoding == node::HEX ? "hex"
                   : encoding == node::BASE64URL ? "base64url" : encoding == node::UTF8 ? "utf8" : "latin1";
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::Value> toString;
  if (!buffer->Get(ctx, Str(isolate, "toString")).ToLocal(&toString) || !toString->IsFunction()) return {};
  v8::Local<v8::Value> args[] = {Str(isolate, name)};
  return toString.As<v8::Function>()->Call(ctx, buffer, 1, args);
}

// ---- libuv (renamed by the build: Bun's own abort) ----

extern "C" {
int omniserve_uv_rwlock_init(uv_rwlock_t* l) { return -pthread_rwlock_init(l, nullptr); }
void omniserve_uv_rwlock_destroy(uv_rwlock_t* l) { pthread_rwlock_destroy(l); }
void omniserve_uv_rwlock_rdlock(uv_rwlock_t* l) { if (pthread_rwlock_rdlock(l)) std::abort(); }
void omniserve_uv_rwlock_rdunlock(uv_rwlock_t* l) { if (pthread_rwlock_unlock(l)) std::abort(); }
void omniserve_uv_rwlock_wrlock(uv_rwlock_t* l) { if (pthread_rwlock_wrlock(l)) std::abort(); }
void omniserve_uv_rwlock_wrunlock(uv_rwlock_t* l) { if (pthread_rwlock_unlock(l)) std::abort(); }
int omniserve_uv_rwlock_tryrdlock(uv_rwlock_t* l) { return -pthread_rwlock_tryrdlock(l); }
int omniserve_uv_rwlock_trywrlock(uv_rwlock_t* l) { return -pthread_rwlock_trywrlock(l); }

int omniserve_uv_thread_create(uv_thread_t* tid, uv_thread_cb entry, void* arg) {
  auto* start = new ThreadStart{entry, arg};
  int err = pthread_create(tid, nullptr, RunThread, start);
  if (err != 0) delete start;
  return -err;
}
int omniserve_uv_thread_join(uv_thread_t* tid) { return -pthread_join(*tid, nullptr); }
}
