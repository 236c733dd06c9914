# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Topic and service names of the lam_ros graph, in one place.

Camera topics follow realsense2_camera (``/<namespace>/<name>/color/image_raw``
with namespace = name = the camera's name); arm topics follow Interbotix
xs_sdk (``/<robot_name>/joint_states``, ``/<robot_name>/commands/...``).
"""
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy

# Latched topics (TASK, ESTOP, ESTOPPED): a late subscriber still gets the last value. Publisher and
# subscriber must both use it, or the subscriber sees only what is sent after it joined.
LATCHED = QoSProfile(depth=1, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
# Matches every publisher, whatever its reliability and durability (a latched subscription
# matches only latched publishers), but delivers best-effort: a lost sample is not resent.
ANY_PUBLISHER = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.BEST_EFFORT,
                           durability=QoSDurabilityPolicy.VOLATILE)
# The e-stop's subscriptions, so every publisher matches one: latched (an e-stop sent before
# the node started), reliable (``ros2 topic pub``'s and rclpy's default: acknowledged and
# resent over a lossy link, where best-effort alone could drop it) and any other publisher.
ESTOP_QOS = (LATCHED, QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE,
                                 durability=QoSDurabilityPolicy.VOLATILE), ANY_PUBLISHER)
# One token of a ROS name (camera names, robot_name): what a topic namespace may hold.
NAME_PATTERN = r'[A-Za-z][A-Za-z0-9_]*'

STATUS = '~/status'                  # std_msgs/String: JSON {level, message, ...} per node
DIAGNOSTICS = '/diagnostics'         # diagnostic_msgs/DiagnosticArray: the same, for rqt/Foxglove
ESTOP_SERVICE = '~/estop'            # std_srvs/SetBool on the arm node: twin of ESTOP
CONTROLLER_RESET = '~/reset'         # std_srvs/Trigger on the controller: a new scene begins
ACTION = '/lam/action'               # sensor_msgs/JointState: requested arm + gripper targets
ESTOP = '/lam/estop'                 # std_msgs/Bool: true latches the e-stop
ESTOPPED = '/lam/estopped'           # std_msgs/Bool, latched: the arm node's e-stop state,
#   whichever way it came (ESTOP or ESTOP_SERVICE); the controller stops its policy on it
TASK = '/lam/task'                   # std_msgs/String (JSON {task, instruction}), latched
SIM_RESET = '/sim/reset'             # std_srvs/Trigger: new scene (next seed)
SIM_SUCCESS = '/sim/success'         # std_msgs/Bool: task success predicate, with each state
SIM_EXPERT_ACTION = '/sim/expert_action'  # sensor_msgs/JointState: the scripted expert's target
PSEUDO_ACTION = '/lam/pseudo_action'  # sensor_msgs/Image 32FC1, 1 x z_dim: the labeler's latent
#   z(o_t, o_t+n) of the policy camera, stamped with o_t (lam_ros/nodes/labeler_node.py)
JOY = '/joy'                         # sensor_msgs/Joy from joy_node (teleop device joy)
RECORDER_START = '/recorder/start'   # std_srvs/Trigger
RECORDER_STOP = '/recorder/stop'     # std_srvs/SetBool: data = task success
RECORDER_DISCARD = '/recorder/discard'  # std_srvs/Trigger

GRIPPER = 'gripper'


# realsense2_camera's streams, relative to ``/<namespace>/<name>`` of a camera node.
CAMERA_STREAMS = {
    'color': 'color/image_raw',
    'color_info': 'color/camera_info',
    'depth': 'aligned_depth_to_color/image_raw',
    'depth_info': 'aligned_depth_to_color/camera_info',
}


def of_node(node_name: str, private_name: str) -> str:
    """The absolute name of a node's ``~/...`` topic or service: ('controller', '~/reset')."""
    assert private_name.startswith('~/'), private_name
    return f'/{node_name}/{private_name[2:]}'


def camera_node_topics() -> dict[str, str]:
    """The same streams relative to a camera node (``~/color/image_raw``...), as it publishes."""
    return {key: f'~/{suffix}' for key, suffix in CAMERA_STREAMS.items()}


def camera_topics(camera: str) -> dict[str, str]:
    """realsense2_camera topic names of one camera (namespace = name = ``camera``)."""
    return {key: f'/{camera}/{camera}/{suffix}' for key, suffix in CAMERA_STREAMS.items()}


def arm_topics(robot_name: str) -> dict[str, str]:
    """Interbotix xs_sdk topic and service names under ``/<robot_name>``."""
    ns = f'/{robot_name}'
    return {
        'joint_states': f'{ns}/joint_states',
        'joint_group': f'{ns}/commands/joint_group',
        'joint_single': f'{ns}/commands/joint_single',
        'joint_trajectory': f'{ns}/commands/joint_trajectory',
        'get_robot_info': f'{ns}/get_robot_info',
        'torque_enable': f'{ns}/torque_enable',
        'reboot_motors': f'{ns}/reboot_motors',
        'set_operating_modes': f'{ns}/set_operating_modes',
        'set_motor_registers': f'{ns}/set_motor_registers',
    }


def positions_by_name(msg, names) -> list[float] | None:
    """Positions of ``names`` from a JointState (any joint order), or None if one is missing."""
    index = {name: i for i, name in enumerate(msg.name)}
    try:
        return [msg.position[index[name]] for name in names]
    except (KeyError, IndexError):
        return None
