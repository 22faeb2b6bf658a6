# protoc-c names the function pointers of a service after its methods in lower case, so a method
# called `Register` becomes a member named `register`, a C keyword. The project never uses the
# generated protobuf-c RPC stubs (gRPC runs through core/grpc_*), so the member is renamed with a
# trailing underscore in the generated header. Usage: cmake -DFILE=<x.pb-c.h> -P fix_c_keywords.cmake
file(READ "${FILE}" text)
string(REPLACE "(*register)(" "(*register_)(" text "${text}")
string(REPLACE "function_prefix__ ## register," "function_prefix__ ## register_," text "${text}")
file(WRITE "${FILE}" "${text}")
