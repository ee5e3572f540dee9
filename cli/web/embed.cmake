# embed.cmake - turns a file into a C array for `reenact serve` (the page is built into the binary).
#   cmake -DIN=cli/web/index.html -DOUT=build/serve_page.c -DNAME=serve_page_html -P cli/web/embed.cmake
# Writes: const unsigned char NAME[] = {...}; const size_t NAME_len = <bytes>; (the array is NUL-terminated too)
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
# break the lines every 32 bytes so compilers and diffs stay happy
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){32})" "\\1\n" body "${body}")
file(WRITE "${OUT}.tmp" "/* generated from ${IN} by cli/web/embed.cmake: do not edit */\n#include <stddef.h>\n"
     "const unsigned char ${NAME}[] = {\n${body}0x00};\nconst size_t ${NAME}_len = ${bytes};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
