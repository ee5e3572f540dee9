/*
 * dlib_view.h - a borrowed 8-bit buffer seen by dlib as an image of Pixel (unsigned char for gray, dlib::rgb_pixel
 * for re_image's RGB: {red, green, blue}, 3 bytes), through dlib's generic image interface (image_traits plus
 * num_rows / num_columns / image_data / width_step found by argument-dependent lookup), so dlib scans or cuts chips
 * straight out of our buffers without a copy. Internal to the C++ files of src/face/; include after dlib's headers.
 */
#ifndef RE_DLIB_VIEW_H
#define RE_DLIB_VIEW_H

namespace re_dlib {
template <typename Pixel>
struct view {
    const unsigned char *data;
    long w, h, stride;
};
template <typename Pixel> inline long num_rows(const view<Pixel> &v) { return v.h; }
template <typename Pixel> inline long num_columns(const view<Pixel> &v) { return v.w; }
template <typename Pixel> inline const void *image_data(const view<Pixel> &v) { return v.data; }
template <typename Pixel> inline long width_step(const view<Pixel> &v) { return v.stride; }
}  // namespace re_dlib

namespace dlib {
template <typename Pixel> struct image_traits<re_dlib::view<Pixel>> { typedef Pixel pixel_type; };
}  // namespace dlib

#endif
