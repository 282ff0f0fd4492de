# Turns the status page (an HTML file) into a C source holding it as a byte
# array, so that the router serves it with no file beside the binary.
#   cmake -DIN=page.html -DOUT=page.c -P status_embed.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" nhex)
math(EXPR n "${nhex} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from status_page.html by status_embed.cmake: do not edit. */\n"
     "#include <stddef.h>\n"
     "const char status_page_html[] = {\n${bytes}0x00};\n"
     "const size_t status_page_html_len = ${n};\n")
