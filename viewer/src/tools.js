// Tools, mouse bindings and keyboard shortcuts, as data.

import {
  addTool, ToolGroupManager, Enums as ToolEnums,
  WindowLevelTool, PanTool, ZoomTool, StackScrollTool, LengthTool, AngleTool,
  EllipticalROITool, RectangleROITool, ArrowAnnotateTool, PlanarRotateTool, CrosshairsTool,
} from '@cornerstonejs/tools';

const { MouseBindings, KeyboardBindings } = ToolEnums;

/** Tools the left button can hold; the key is the action name used by the UI and shortcuts. */
export const PRIMARY_TOOLS = {
  windowLevel: WindowLevelTool.toolName,
  pan: PanTool.toolName,
  zoom: ZoomTool.toolName,
  length: LengthTool.toolName,
  angle: AngleTool.toolName,
  ellipse: EllipticalROITool.toolName,
  rectangle: RectangleROITool.toolName,
  arrow: ArrowAnnotateTool.toolName,
};

/** Fixed bindings that stay active whatever the left button does. */
const FIXED_BINDINGS = [
  { tool: PanTool.toolName, bindings: [{ mouseButton: MouseBindings.Auxiliary }] },
  { tool: ZoomTool.toolName, bindings: [{ mouseButton: MouseBindings.Secondary }] },
  { tool: StackScrollTool.toolName, bindings: [{ mouseButton: MouseBindings.Wheel }] },
];

const ALL_TOOLS = [
  WindowLevelTool, PanTool, ZoomTool, StackScrollTool, LengthTool, AngleTool,
  EllipticalROITool, RectangleROITool, ArrowAnnotateTool, PlanarRotateTool,
];
// Registered with the others; only the MPR tool group uses it (it needs volume viewports).
const MPR_ONLY_TOOLS = [CrosshairsTool];

/** Window presets (width, centre) in HU. */
export const WINDOW_PRESETS = {
  brain: { width: 80, center: 40 },
  lung: { width: 1500, center: -600 },
  bone: { width: 2000, center: 300 },
  abdomen: { width: 400, center: 50 },
  mediastinum: { width: 350, center: 50 },
};

/** Keyboard shortcuts: key -> action; the help overlay is generated from this table. */
export const SHORTCUTS = [
  { key: 'ArrowUp', action: 'previousImage', label: '↑' },
  { key: 'ArrowDown', action: 'nextImage', label: '↓' },
  { key: 'PageUp', action: 'previousImage10', label: 'PgUp' },
  { key: 'PageDown', action: 'nextImage10', label: 'PgDn' },
  { key: 'Home', action: 'firstImage', label: 'Home' },
  { key: 'End', action: 'lastImage', label: 'End' },
  { key: 'w', action: 'windowLevel', label: 'W' },
  { key: 'p', action: 'pan', label: 'P' },
  { key: 'z', action: 'zoom', label: 'Z' },
  { key: 'l', action: 'length', label: 'L' },
  { key: 'a', action: 'angle', label: 'A' },
  { key: 'e', action: 'ellipse', label: 'E' },
  { key: 'r', action: 'rectangle', label: 'R' },
  { key: 't', action: 'arrow', label: 'T' },
  { key: '1', action: 'preset:brain', label: '1' },
  { key: '2', action: 'preset:lung', label: '2' },
  { key: '3', action: 'preset:bone', label: '3' },
  { key: '4', action: 'preset:abdomen', label: '4' },
  { key: '5', action: 'preset:mediastinum', label: '5' },
  { key: '6', action: 'preset:dicom', label: '6' },
  { key: 'i', action: 'invert', label: 'I' },
  { key: 'h', action: 'flipH', label: 'H' },
  { key: 'v', action: 'flipV', label: 'V' },
  { key: ']', action: 'rotate', label: ']' },
  { key: 'f', action: 'fit', label: 'F' },
  { key: 'Escape', action: 'reset', label: 'Esc' },
  { key: 'c', action: 'cine', label: 'C' },
  { key: 'k', action: 'link', label: 'K' },
  { key: 'm', action: 'mpr', label: 'M' },
  { key: 'g', action: 'tags', label: 'G' },
  { key: '?', action: 'help', label: '?' },
];

let registered = false;

/** addTool for every tool we use (Cornerstone keeps them in its own registry). */
export function registerTools() {
  if (registered) return;
  [...ALL_TOOLS, ...MPR_ONLY_TOOLS].forEach((tool) => addTool(tool));
  registered = true;
}

/** A tool group with the fixed bindings and the window/level tool on the left button. */
export function createToolGroup(id) {
  ToolGroupManager.destroyToolGroup(id);
  const group = ToolGroupManager.createToolGroup(id);
  ALL_TOOLS.forEach((tool) => group.addTool(tool.toolName));
  FIXED_BINDINGS.forEach(({ tool, bindings }) => group.setToolActive(tool, { bindings }));
  setPrimaryTool(group, 'windowLevel');
  return group;
}

/** Put `action`'s tool on the left button; other annotation tools stay passive (editable). */
export function setPrimaryTool(group, action) {
  const name = PRIMARY_TOOLS[action];
  if (!name) return false;
  // setToolPassive drops only the left-button binding: pan and zoom keep their own buttons.
  Object.values(PRIMARY_TOOLS).forEach((toolName) => {
    if (toolName !== name) group.setToolPassive(toolName);
  });
  group.setToolActive(name, { bindings: [{ mouseButton: MouseBindings.Primary }] });
  return true;
}

/**
 * The MPR planes' tool group: crosshairs on the left button (activated by the caller once the
 * three viewports are in), window/level on Shift + left, the fixed pan/zoom/scroll bindings.
 */
export function createMprToolGroup(id) {
  ToolGroupManager.destroyToolGroup(id);
  const group = ToolGroupManager.createToolGroup(id);
  [CrosshairsTool, WindowLevelTool, PanTool, ZoomTool, StackScrollTool].forEach((tool) => group.addTool(tool.toolName));
  FIXED_BINDINGS.forEach(({ tool, bindings }) => group.setToolActive(tool, { bindings }));
  group.setToolActive(WindowLevelTool.toolName, {
    bindings: [{ mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Shift }],
  });
  return group;
}

/** Crosshairs on the left button, once the MPR group holds all three planes. */
export function activateCrosshairs(group) {
  group.setToolActive(CrosshairsTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
}

export function destroyToolGroup(id) {
  ToolGroupManager.destroyToolGroup(id);
}
