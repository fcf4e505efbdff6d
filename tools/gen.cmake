# gevinst-gen: deterministic sample event streams for the demo, the integration tests and the
# benchmark. Standalone on purpose: librdkafka and libm only, nothing from src/.
# Included from tools/CMakeLists.txt.
add_executable(gevinst-gen ${CMAKE_CURRENT_LIST_DIR}/gen.c)
target_link_libraries(gevinst-gen PRIVATE PkgConfig::RDKAFKA m)
set_target_properties(gevinst-gen PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tools)
